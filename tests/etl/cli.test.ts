import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { CliContext } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/program.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { expectedMetrics, horizonPassed, insertActivities, insertEvents, loadedMetrics, seedTenant, type SeededTenant } from './support.js';

let database: TestDatabase;
let tenant: SeededTenant;

beforeAll(async () => {
  database = await migratedDatabase();
  tenant = await seedTenant(database, 2);
});

async function strata(...args: string[]): Promise<string[]> {
  const out: string[] = [];
  const context: CliContext = {
    config: loadConfig({}),
    // The test owns the database: the command's close() must not end it.
    openRuntime: async () => ({ database, embedded: null, close: async () => undefined }),
    out: (line) => out.push(line),
    err: (line) => out.push(line),
  };
  await buildProgram(context).parseAsync(['node', 'strata', ...args]);
  return out;
}

describe('strata etl', () => {
  it('status answers before the first run, and says how to start one', async () => {
    const text = await strata('etl', 'status');
    expect(text).toEqual([
      'pipeline user-analytics', 'last success: never; lag: - s', 'pending: 0 activities, 0 events',
      'failures since last success: 0; quarantined rows: 0', '',
      'no runs yet: `strata etl run` starts one (serve runs it on ETL_CRON)',
    ]);
  });

  it('run --no-wait skips while another run holds the pipeline lock', async () => {
    const holder = await database.pool.connect();
    try {
      await holder.query(`select pg_advisory_lock(hashtextextended('etl:user-analytics', 0))`);
      expect(await strata('etl', 'run', '--no-wait')).toEqual(['skipped: another run is in progress']);
      expect((await strata('etl', 'status'))[0]).toBe('pipeline user-analytics (running now)');
    } finally {
      await holder.query(`select pg_advisory_unlock(hashtextextended('etl:user-analytics', 0))`);
      holder.release();
    }
  });

  it('run loads the new rows, then reports that it is up to date', async () => {
    await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-08-04T10:00:00Z' }]);
    await horizonPassed(database);
    expect(await strata('etl', 'run')).toEqual([expect.stringMatching(/^run \d+ succeeded: 1 rows read, \d+ rows written; daily active users recounted: 30 days of 1 tenants$/)]);
    expect(await strata('etl', 'run', '--no-wait')).toEqual(['up to date: no new rows']);
    expect(await loadedMetrics(database, [tenant.tenantId])).toEqual(await expectedMetrics(database, [tenant.tenantId]));
  });

  it('run fails with the number of quarantined rows when a row cannot be counted', async () => {
    await insertEvents(database, [{ tenantId: tenant.tenantId, userId: null, name: 'bad_clock', at: '2999-01-01T00:00:00Z' }]);
    await horizonPassed(database);
    await expect(strata('etl', 'run')).rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/failed: 1 source rows quarantined/) });
  });

  it('backfill rebuilds the days and says how many rows it read', async () => {
    await database.admin.updateTable('metric').set({ value: 99 }).where('tenant_id', '=', tenant.tenantId).execute();
    const out = await strata('etl', 'backfill', '--from', '2025-08-01', '--to', '2025-08-10', '--days-per-batch', '4');
    expect(out).toEqual([expect.stringMatching(/^rebuilt 10 days from 1 rows \(runs \d+, \d+, \d+\); daily active users recounted: \d+ days of 1 tenants$/)]);
    expect(await loadedMetrics(database, [tenant.tenantId])).toEqual(await expectedMetrics(database, [tenant.tenantId]));
  });

  it('backfill refuses a batch size that is not a positive integer', async () => {
    await expect(strata('etl', 'backfill', '--from', '2025-08-01', '--to', '2025-08-10', '--days-per-batch', '0'))
      .rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('status lists the last runs, lag, pending rows and failures, as text or JSON', async () => {
    const text = await strata('etl', 'status', '--limit', '2');
    expect(text[0]).toBe('pipeline user-analytics');
    expect(text[2]).toBe('pending: 0 activities, 0 events');
    expect(text[3]).toMatch(/^failures since last success: 1; quarantined rows: 1$/);
    expect(text[5]).toMatch(/^run\s+mode\s+status\s+read\s+written\s+took\s+started\s+error$/);
    const runs = text.slice(6).map((line) => line.trim().split(/\s{2,}/));
    expect(runs).toHaveLength(2);
    for (const run of runs) expect(run.slice(0, 3)).toEqual([expect.stringMatching(/^\d+$/), expect.any(String), expect.stringMatching(/^(succeeded|failed|running)$/)]);
    const json = JSON.parse((await strata('etl', 'status', '--json'))[0]!);
    expect(json).toMatchObject({ pipeline: 'user-analytics', busy: false, quarantined: 1 });
    expect(json.runs.some((run: { status: string; error: string | null }) => run.status === 'failed' && run.error === '1 source rows quarantined')).toBe(true);
  });
});
