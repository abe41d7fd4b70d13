import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { withDatabaseName } from '../../src/db/database.js';
import { lastWatermark } from '../../src/repositories/pipeline-watermark.js';
import { PIPELINE, runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import {
  catchUp, expectedMetrics, insertActivities, loadedMetrics, seedTenant, succeeded, type SeededTenant,
} from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

async function expectExact(tenantIds: number[]) {
  expect(await loadedMetrics(database, tenantIds)).toEqual(await expectedMetrics(database, tenantIds));
}

async function storedOn(tenantId: number): Promise<number[]> {
  const { rows } = await sql<{ node: number }>`
    select distinct ingest_node as node from user_activity where tenant_id = ${tenantId} order by 1`.execute(database.admin);
  return rows.map((row) => row.node);
}

/** Copies every activity of the tenant once more, in one INSERT … SELECT (pushed down to its node on Citus). */
async function copyActivities(client: { query(text: string, values: unknown[]): Promise<unknown> }, tenantId: number) {
  await client.query(`insert into user_activity (tenant_id, user_id, activity_type, created_at)
    select tenant_id, user_id, 'copied', created_at from user_activity where tenant_id = $1`, [tenantId]);
}

describe('the origin of a row', () => {
  it('stamps each row with the node that stored it and that node\'s transaction, one watermark per node', async () => {
    const tenant = await seedTenant(database, 1);
    await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-07-01T00:00:00Z' }]);
    const nodes = await storedOn(tenant.tenantId);
    expect(nodes).toHaveLength(1);
    if (!onCitus()) expect(nodes).toEqual([0]);
    const run = succeeded(await catchUp(database));
    const watermark = await lastWatermark(database.admin, PIPELINE);
    expect(watermark.xids.has(nodes[0]!)).toBe(true);
    expect(watermark.runId).toBe(run.runId);
    await expectExact([tenant.tenantId]);
  });
});

describe('on Citus, a cluster', () => {
  async function tenantsOnTwoNodes(): Promise<[SeededTenant, SeededTenant]> {
    const byNode = new Map<number, SeededTenant>();
    for (let attempt = 0; attempt < 20 && byNode.size < 2; attempt += 1) {
      const tenant = await seedTenant(database, 2, `Spread ${attempt}`);
      await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-07-02T00:00:00Z' }]);
      const [node] = await storedOn(tenant.tenantId);
      if (!byNode.has(node!)) byNode.set(node!, tenant);
    }
    expect(byNode.size).toBe(2);
    return [...byNode.values()] as [SeededTenant, SeededTenant];
  }

  it.runIf(onCitus())('on Citus, stamps rows with the worker that stored them, however the insert was routed', async () => {
    const tenant = await seedTenant(database, 1);
    await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-07-03T00:00:00Z' }]);
    await copyActivities({ query: (text, values) => sql.raw(text.replace('$1', String(values[0]))).execute(database.admin) }, tenant.tenantId);
    const nodes = await storedOn(tenant.tenantId);
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toBeGreaterThan(0);
  });

  it.runIf(onCitus())('on Citus, counts rows written by VALUES and by a pushed-down INSERT … SELECT each exactly once', async () => {
    const [a, b] = await tenantsOnTwoNodes();
    for (const tenant of [a, b]) {
      await copyActivities({ query: (text, values) => sql.raw(text.replace('$1', String(values[0]))).execute(database.admin) }, tenant.tenantId);
    }
    const first = succeeded(await catchUp(database));
    expect(first.windows.filter((window) => window.xidTo !== window.xidFrom).length).toBeGreaterThanOrEqual(2);
    await expectExact([a.tenantId, b.tenantId]);
    expect(await catchUp(database)).toEqual({ status: 'skipped', reason: 'up to date' });
  });

  it.runIf(onCitus())('on Citus, counts a row whose transaction is still open on a worker when a run starts by a later run, never skipping it', async () => {
    const [held, other] = await tenantsOnTwoNodes();
    succeeded(await catchUp(database));
    const client = new pg.Client({ connectionString: withDatabaseName(inject('serverUrl'), database.name) });
    await client.connect();
    try {
      await client.query('begin');
      // Pushed down: the row takes the worker's xid, which the coordinator's horizon knows nothing of.
      await copyActivities(client, held.tenantId);
      await insertActivities(database, [{ tenantId: other.tenantId, userId: other.userIds[1]!, type: 'later', at: '2025-07-02T05:00:00Z' }]);
      const during = await runPipeline(database);
      expect(during.status === 'succeeded' ? during.rowsRead : 0).toBeLessThanOrEqual(1);
      await client.query('commit');
    } finally {
      await client.end();
    }
    const after = succeeded(await catchUp(database));
    expect(after.rowsRead).toBeGreaterThanOrEqual(1);
    await expectExact([held.tenantId, other.tenantId]);
  });
});
