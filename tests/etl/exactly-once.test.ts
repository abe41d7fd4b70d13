import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import { withTenant } from '../../src/db/tenant.js';
import type { NodeWindow } from '../../src/etl/user-analytics/extractors.js';
import { lastWatermark } from '../../src/repositories/pipeline-watermark.js';
import {
  PIPELINE, pipelineBusy, runPipeline, type PipelineHooks, type RunResult,
} from '../../src/etl/user-analytics/pipeline.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import {
  catchUp, expectedActiveUserDays, expectedMetrics, horizonPassed, insertActivities, insertEvents, lineageViolations,
  loadedActiveUserDays, loadedMetrics, paths, seedTenant, succeeded, watermarkStarts, windowEnds, windowStarts, type SeededTenant,
} from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

async function expectExact(tenantIds: number[]) {
  expect(await loadedMetrics(database, tenantIds)).toEqual(await expectedMetrics(database, tenantIds));
  expect(await loadedActiveUserDays(database, tenantIds)).toEqual(await expectedActiveUserDays(database, tenantIds));
}

async function someActivity(tenant: SeededTenant, count: number, day: string) {
  await insertActivities(database, Array.from({ length: count }, (_, index) => ({
    tenantId: tenant.tenantId, userId: tenant.userIds[index % tenant.userIds.length]!, type: `t${index % 3}`, at: `${day}T0${index % 10}:00:00Z`,
  })));
}

async function derivedState() {
  return {
    metrics: await database.admin.selectFrom('metric').selectAll().orderBy('tenant_id').orderBy('name').orderBy('dimension').orderBy('day').execute(),
    days: await database.admin.selectFrom('active_user_day').selectAll().orderBy('tenant_id').orderBy('day').orderBy('user_id').execute(),
    succeededRuns: await database.admin.selectFrom('etl_run').select('id').where('status', '=', 'succeeded').orderBy('id').execute(),
    watermark: await lastWatermark(database.admin, PIPELINE),
  };
}

async function until(condition: () => Promise<boolean>) {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function waitingForPipelineLock(): Promise<boolean> {
  const { rows: [lock] } = await sql<{ waiting: boolean }>`
    select exists (select 1 from pg_locks where locktype = 'advisory' and not granted
      and database = (select oid from pg_database where datname = current_database())) as waiting`.execute(database.admin);
  return lock!.waiting;
}

describe.each(paths)('on the %s path', (_name, path) => {
  describe('a failure at any stage', () => {
    const stages: Array<keyof PipelineHooks> = ['afterExtract', 'afterTransform', 'afterValidate', 'duringLoad'];

    it.each(stages)('%s: leaves no partial effect, records the failed run, and the next run is exact', async (stage) => {
      const tenant = await seedTenant(database, 3);
      await someActivity(tenant, 5, '2025-02-10');
      succeeded(await catchUp(database, path));
      await someActivity(tenant, 4, '2025-02-11');
      // A late row for a known user: the failed run would have moved new_users between days.
      await insertEvents(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, name: 'late', at: '2025-01-01T00:00:00Z' }]);
      await horizonPassed(database);
      const before = await derivedState();

      const crash = () => {
        throw new Error(`crash ${stage}`);
      };
      await expect(runPipeline(database, { ...path, hooks: { [stage]: crash } })).rejects.toThrow(`crash ${stage}`);

      expect(await derivedState()).toEqual(before);
      const failed = await database.admin.selectFrom('etl_run').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
      expect(failed).toMatchObject({ status: 'failed', error: `crash ${stage}`, rows_written: 0 });
      const attempted = (failed.checksums as unknown as { windows: NodeWindow[] }).windows;
      expect(windowStarts(attempted)).toEqual(watermarkStarts(attempted, before.watermark));
      expect(failed.rows_read).toBe(5);

      const next = succeeded(await catchUp(database, path));
      expect(windowStarts(next.windows)).toEqual(watermarkStarts(next.windows, before.watermark));
      expect(next.rowsRead).toBe(5);
      await expectExact([tenant.tenantId]);
    });
  });

  describe('a lost connection', () => {
    it('in the middle of the load leaves no partial effect, frees the pipeline, and the next run is exact', async () => {
      const tenant = await seedTenant(database, 2);
      await someActivity(tenant, 4, '2025-02-20');
      await horizonPassed(database);
      const before = await derivedState();
      const killRun = async () => {
        // The run's own session is the one holding the pipeline lock.
        await sql`select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted and objsubid = 1
          and database = (select oid from pg_database where datname = current_database())`.execute(database.admin);
        await sql`select 1`.execute(database.admin);
      };
      // A pool whose clients take a server-side disconnect as a failed query, not an uncaught 'error' event.
      const resilient = openDatabase(database.url);
      resilient.pool.on('connect', (client) => client.on('error', () => undefined));
      try {
        await expect(runPipeline(resilient, { ...path, hooks: { duringLoad: killRun } })).rejects.toThrow();
      } finally {
        await resilient.close();
      }
      expect(await derivedState()).toEqual(before);
      expect(await pipelineBusy(database.admin)).toBe(false);
      expect(succeeded(await catchUp(database, path)).rowsRead).toBe(4);
      await expectExact([tenant.tenantId]);
    });
  });

  describe('concurrent runs', () => {
    it('serialize: the second waits for the first, then reads only the rows committed after it; a non-waiting run skips', async () => {
      const tenant = await seedTenant(database, 2);
      await someActivity(tenant, 3, '2025-03-01');
      await horizonPassed(database);

      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let paused!: () => void;
      const extracted = new Promise<void>((resolve) => (paused = resolve));
      const first = runPipeline(database, { ...path, hooks: { afterExtract: async () => { paused(); await gate; } } });
      await extracted;

      expect(await pipelineBusy(database.admin)).toBe(true);
      expect(await runPipeline(database, { ...path, wait: false })).toEqual({ status: 'skipped', reason: 'busy' });
      await someActivity(tenant, 2, '2025-03-02');
      await horizonPassed(database);
      const second = runPipeline(database, path);
      await until(waitingForPipelineLock);
      release();

      const [a, b] = (await Promise.all([first, second])).map(succeeded);
      expect(a!.rowsRead).toBe(3);
      expect(b!.rowsRead).toBe(2);
      expect(windowStarts(b!.windows)).toEqual(windowEnds(a!.windows));
      expect(await pipelineBusy(database.admin)).toBe(false);
      await expectExact([tenant.tenantId]);
    });

    it('four runs started together read every row exactly once', async () => {
      const tenant = await seedTenant(database, 3);
      await someActivity(tenant, 7, '2025-03-05');
      await insertEvents(database, [{ tenantId: tenant.tenantId, userId: null, name: 'ping', at: '2025-03-05T01:00:00Z' }]);
      await horizonPassed(database);
      const results: RunResult[] = await Promise.all([1, 2, 3, 4].map(() => runPipeline(database, path)));
      const read = results.reduce((sum, result) => sum + (result.status === 'succeeded' ? result.rowsRead : 0), 0);
      expect(read).toBe(8);
      await expectExact([tenant.tenantId]);
    });
  });
});

describe('concurrent runs', () => {
  it('cannot load one batch twice: the database refuses a second succeeded run from the same watermark', async () => {
    const tenant = await seedTenant(database, 1);
    await someActivity(tenant, 1, '2025-03-09');
    const run = succeeded(await catchUp(database));
    const again = await database.admin.insertInto('etl_run')
      .values({ pipeline: PIPELINE, status: 'succeeded', mode: 'incremental' }).returning('id').executeTakeFirstOrThrow();
    const window = run.windows.find((candidate) => candidate.xidTo !== candidate.xidFrom)!;
    const duplicate = database.admin.insertInto('etl_run_window').values({
      etl_run_id: again.id, pipeline: PIPELINE, node: window.node, xid_from: window.xidFrom, xid_to: window.xidTo,
    }).execute();
    // etl_run_window is a reference table on Citus: the worker's refusal comes back with its code and
    // its message (naming the shard's copy of the key) but without the constraint field.
    await expect(duplicate).rejects.toMatchObject(onCitus()
      ? { code: '23505', message: expect.stringMatching(/"etl_run_window_chain_key_\d+"/) }
      : { code: '23505', constraint: 'etl_run_window_chain_key' });
  });
});

describe.each(paths)('on the %s path', (_name, path) => {
  describe('validation', () => {
    it('quarantines a row from the future with its reason, fails the run without loading, and the next run loads the rest', async () => {
      const tenant = await seedTenant(database, 2);
      await someActivity(tenant, 2, '2025-04-01');
      await insertEvents(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[1]!, name: 'clock_skew', at: '2999-01-01T00:00:00Z' }]);
      await horizonPassed(database);
      const before = await derivedState();

      const failed = await runPipeline(database, path);
      expect(failed).toMatchObject({ status: 'failed', rowsRead: 3, quarantined: 1 });
      expect(await derivedState()).toEqual(before);
      const quarantined = await database.admin.selectFrom('etl_quarantine').selectAll().where('tenant_id', '=', tenant.tenantId).execute();
      expect(quarantined).toHaveLength(1);
      expect(quarantined[0]).toMatchObject({ source: 'event', reason: expect.stringContaining('after'), etl_run_id: failed.status === 'failed' ? failed.runId : -1 });
      expect(quarantined[0]!.row_data).toMatchObject({ name: 'clock_skew', day: '2999-01-01' });
      const run = await database.admin.selectFrom('etl_run').selectAll().where('id', '=', quarantined[0]!.etl_run_id).executeTakeFirstOrThrow();
      expect(run).toMatchObject({ status: 'failed', error: '1 source rows quarantined' });

      const next = succeeded(await catchUp(database, path));
      expect(next.rowsRead).toBe(2);
      await expectExact([tenant.tenantId]);
      expect((await loadedMetrics(database, [tenant.tenantId])).some((metric) => metric.dimension === 'clock_skew')).toBe(false);
    });
  });
});

describe('validation', () => {
  it('shows a tenant its own quarantined rows and none of another tenant\'s', async () => {
    const a = await seedTenant(database, 1, 'A');
    const b = await seedTenant(database, 1, 'B');
    await insertEvents(database, [{ tenantId: a.tenantId, userId: null, name: 'bad', at: '1999-12-31T00:00:00Z' }]);
    await catchUp(database);
    const seenByA = await withTenant(database, { tenantId: a.tenantId }, (trx) => trx.selectFrom('etl_quarantine').select('source_id').execute());
    const seenByB = await withTenant(database, { tenantId: b.tenantId }, (trx) => trx.selectFrom('etl_quarantine').select('source_id').execute());
    expect(seenByA).toHaveLength(1);
    expect(seenByB).toEqual([]);
  });
});

describe('lineage', () => {
  it('every metric and active user day names a succeeded run whose window holds the rows it counted', async () => {
    const tenant = await seedTenant(database, 3);
    await someActivity(tenant, 6, '2025-05-05');
    await catchUp(database);
    const { metrics, userDays, checksums, checked } = await lineageViolations(database);
    expect({ metrics, userDays, checksums }).toEqual({ metrics: [], userDays: [], checksums: [] });
    expect(checked.metrics).toBeGreaterThan(10);
    expect(checked.days).toBeGreaterThan(10);
  });

  it('detects a metric pointing at the wrong run', async () => {
    const [oldest] = await database.admin.selectFrom('etl_run').select('id').where('status', '=', 'succeeded').orderBy('id').limit(1).execute();
    const newest = await database.admin.selectFrom('metric').select(['tenant_id', 'name', 'dimension', 'day'])
      .where('etl_run_id', '>', oldest!.id).where('name', '=', 'activities').limit(1).executeTakeFirstOrThrow();
    await database.admin.updateTable('metric').set({ etl_run_id: oldest!.id }).where('tenant_id', '=', newest.tenant_id)
      .where('name', '=', newest.name).where('dimension', '=', newest.dimension).where('day', '=', newest.day).execute();
    expect((await lineageViolations(database)).metrics).toHaveLength(1);
  });
});
