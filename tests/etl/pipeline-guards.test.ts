import { sql } from 'kysely';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { openDatabase } from '../../src/db/database.js';
import type { NodeWindow } from '../../src/etl/user-analytics/extractors.js';
import { backfill, pipelineBusy, runPipeline, withPipelineLock, type RunOutput } from '../../src/etl/user-analytics/pipeline.js';
import { StrataError } from '../../src/errors.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { catchUp, horizonPassed, insertActivities, paths, seedTenant, succeeded, type SeededTenant } from './support.js';

// The run's own guards: its output is checked before anything is loaded, a failure is recorded as
// what it was, and the pipeline lock reports the error worth reporting.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

async function activity(tenant: SeededTenant, count: number, day: string) {
  await insertActivities(database, Array.from({ length: count }, (_, index) => ({
    tenantId: tenant.tenantId, userId: tenant.userIds[index % tenant.userIds.length]!, type: 'login', at: `${day}T0${index % 10}:00:00Z`,
  })));
}

async function loaded(tenantId: number) {
  return {
    metrics: await database.admin.selectFrom('metric').selectAll().where('tenant_id', '=', tenantId).orderBy(['name', 'dimension', 'day']).execute(),
    days: await database.admin.selectFrom('active_user_day').selectAll().where('tenant_id', '=', tenantId).orderBy(['day', 'user_id']).execute(),
  };
}

async function lastRun() {
  return database.admin.selectFrom('etl_run').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
}

describe.each(paths)('on the %s path, the output checked before the load', (_name, path) => {
  const corruptions: Array<[string, (output: RunOutput, tenantId: number) => void, RegExp]> = [
    ['a row its schema refuses', (output, tenantId) => output.metrics.push({ tenantId, name: 'activities', dimension: '', day: '2025-04-01', value: 0 }), /1 output rows are not valid/],
    ['a count the source does not have', (output) => { output.metrics.find((metric) => metric.name === 'activities')!.value += 1; }, /reconciliation failed for 1 counts/],
  ];

  it.each(corruptions)('refuses %s: the run fails and loads nothing', async (_what, corrupt, message) => {
    const tenant = await seedTenant(database, 2);
    await activity(tenant, 3, '2025-04-01');
    await horizonPassed(database);
    const before = await loaded(tenant.tenantId);
    const run = runPipeline(database, { ...path, hooks: { afterTransform: (output) => corrupt(output, tenant.tenantId) } });
    await expect(run).rejects.toSatisfy((error) => error instanceof StrataError && error.code === 'INTERNAL' && message.test(error.message));
    expect(await loaded(tenant.tenantId)).toEqual(before);
    expect(await lastRun()).toMatchObject({ status: 'failed', error: expect.stringMatching(message) });
    succeeded(await catchUp(database, path));
  });
});

describe('a failed run\'s record', () => {
  it('holds the error and no checksums of rows, since its transaction rolled back', async () => {
    const tenant = await seedTenant(database, 1);
    await activity(tenant, 2, '2025-04-02');
    await horizonPassed(database);
    await expect(runPipeline(database, { hooks: { duringLoad: () => { throw new Error('stopped'); } } })).rejects.toThrow('stopped');
    const none = { rows: 0, minId: 0, maxId: 0, idSum: '0' };
    expect(await lastRun()).toMatchObject({
      status: 'failed', error: 'stopped', activity_from: 0, activity_to: 0, event_from: 0, event_to: 0,
      checksums: { user_activity: none, event: none, quarantined: 0 },
    });
    succeeded(await catchUp(database));
  });

  it('is written whatever was thrown, even nothing at all', async () => {
    const tenant = await seedTenant(database, 1);
    await activity(tenant, 1, '2025-04-03');
    await horizonPassed(database);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- a hook may throw anything
    await expect(runPipeline(database, { hooks: { afterExtract: () => { throw undefined; } } })).rejects.toBeUndefined();
    expect(await lastRun()).toMatchObject({ status: 'failed', error: 'undefined' });
    succeeded(await catchUp(database));
  });

  it('names no window and no rows read when the run failed before it read its watermark', async () => {
    const rename = async (from: string, to: string) => {
      await sql`alter table etl_run_window rename column ${sql.id(from)} to ${sql.id(to)}`.execute(database.admin);
    };
    await rename('xid_from', 'xid_from_away');
    onTestFinished(() => rename('xid_from_away', 'xid_from'));
    await expect(runPipeline(database)).rejects.toThrow(/xid_from/);
    const failed = await lastRun();
    expect(failed).toMatchObject({ status: 'failed', rows_read: 0, error: expect.stringMatching(/xid_from/) });
    expect((failed.checksums as unknown as { windows: NodeWindow[] }).windows).toEqual([]);
  });
});

describe('the statements a run sends', () => {
  it('reads per row in chunks of the size asked for', async () => {
    const tenant = await seedTenant(database, 2);
    /** The reads of user_activity a run of five new activities sends, in chunks of chunkSize. */
    const reads = async (chunkSize: number, day: string) => {
      await activity(tenant, 5, day);
      await horizonPassed(database);
      const { result, statements } = await database.queries.measure(() => runPipeline(database, { perRowLimit: Number.MAX_SAFE_INTEGER, chunkSize }));
      expect(succeeded(result).rowsRead).toBe(5);
      return statements.filter((statement) => statement.includes('from "user_activity" s') && /\blimit \$\d+/.test(statement)).length;
    };
    // Five rows, all on one node: by two, three reads (the last a short one); by a hundred, one.
    // Every other node's window costs both runs the same single read.
    expect(await reads(2, '2025-04-04') - await reads(100, '2025-04-09')).toBe(2);
  });

  it('on the set-based path, asks for no row one by one when the counts found none suspect', async () => {
    const tenant = await seedTenant(database, 2);
    await activity(tenant, 4, '2025-04-05');
    await horizonPassed(database);
    const { result, statements } = await database.queries.measure(() => runPipeline(database, { perRowLimit: 0 }));
    expect(succeeded(result).rowsRead).toBe(4);
    expect(statements.filter((statement) => statement.includes('ingest_xid::text as xid'))).toEqual([]);
  });

  it('for a backfill, asks for no commit horizon: it rebuilds only what the runs before it counted', async () => {
    const tenant = await seedTenant(database, 1);
    await activity(tenant, 2, '2025-04-06');
    succeeded(await catchUp(database));
    const { statements } = await database.queries.measure(() => backfill(database, { from: '2025-04-06', to: '2025-04-06' }));
    expect(statements.filter((statement) => statement.includes('pg_snapshot_xmin'))).toEqual([]);
  });

  it('writes as many rows for a backfill on either path, also of days whose derived rows were lost', async () => {
    const tenant = await seedTenant(database, 3);
    await activity(tenant, 6, '2025-04-07');
    await activity(tenant, 2, '2025-04-08');
    succeeded(await catchUp(database));
    const written = async (perRowLimit: number) => {
      // As after a repair: the days' user days are gone, so none of their users is known to be old.
      await database.admin.deleteFrom('active_user_day').where('tenant_id', '=', tenant.tenantId).execute();
      const { runIds } = await backfill(database, { from: '2025-04-07', to: '2025-04-08', perRowLimit });
      const runs = await database.admin.selectFrom('etl_run').select('rows_written').where('id', 'in', runIds).execute();
      return runs.map((run) => run.rows_written);
    };
    const perRow = await written(Number.MAX_SAFE_INTEGER);
    expect(perRow.every((rows) => rows > 0)).toBe(true);
    expect(await written(0)).toEqual(perRow);
  });
});

describe('the pipeline lock', () => {
  /** A pool whose clients take a server-side disconnect as a failed query, not an uncaught 'error' event. */
  function resilientDatabase() {
    const resilient = openDatabase(database.url);
    resilient.pool.on('connect', (client) => client.on('error', () => undefined));
    onTestFinished(() => resilient.close());
    return resilient;
  }

  async function terminate(pid: number) {
    await sql`select pg_terminate_backend(${pid}::int)`.execute(database.admin);
    for (let wait = 0; wait < 200; wait += 1) {
      const { rows } = await sql`select 1 from pg_stat_activity where pid = ${pid}::int`.execute(database.admin);
      if (rows.length === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`backend ${pid} did not end`);
  }

  it('reports the work\'s own failure when its connection is gone, not the release that could not be sent', async () => {
    const resilient = resilientDatabase();
    const run = withPipelineLock(resilient.admin, 'lock-failure', true, async (connection) => {
      const { rows: [own] } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(connection);
      await terminate(own!.pid);
      throw new Error('the work failed');
    });
    await expect(run).rejects.toThrow('the work failed');
    expect(await pipelineBusy(database.admin, 'lock-failure')).toBe(false);
  });

  it('reports a release that failed after the work succeeded: the lock went with the connection', async () => {
    const resilient = resilientDatabase();
    const run = withPipelineLock(resilient.admin, 'lock-release', true, async (connection) => {
      const { rows: [own] } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(connection);
      await terminate(own!.pid);
      return 'done';
    });
    await expect(run).rejects.toThrow();
    expect(await pipelineBusy(database.admin, 'lock-release')).toBe(false);
  });

  it('returns the work\'s result and frees the lock when all went well', async () => {
    await expect(withPipelineLock(database.admin, 'lock-ok', true, async () => 'done')).resolves.toBe('done');
    expect(await pipelineBusy(database.admin, 'lock-ok')).toBe(false);
  });
});
