import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../src/etl/user-analytics/pipeline.js';
import { ETL_QUEUE, REPORTS_QUEUE, startEtlScheduler } from '../../src/etl/user-analytics/schedulers.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

// Never due while a test runs: every job here is sent by the test.
const config = { ETL_CRON: '0 0 1 1 *' };
const fast = { pollingIntervalSeconds: 0.5 };

async function until(condition: () => Promise<boolean>) {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function jobConnections(): Promise<number> {
  const { rows: [row] } = await sql<{ connections: number }>`
    select count(*)::int as connections from pg_stat_activity
    where datname = current_database() and application_name = 'strata-jobs'`.execute(database.admin);
  return row!.connections;
}

describe('the scheduler\'s jobs', () => {
  it('a pipeline job that finds a run holding the lock skips as busy rather than waiting for it', async () => {
    const runs: RunResult[] = [];
    const scheduler = await startEtlScheduler(database, config, { ...fast, onRun: (run) => runs.push(run) });
    try {
      await database.admin.connection().execute(async (connection) => {
        await sql`select pg_advisory_lock(hashtextextended('etl:user-analytics', 0))`.execute(connection);
        try {
          await scheduler.boss.send(ETL_QUEUE, {});
          await until(async () => runs.length > 0);
        } finally {
          await sql`select pg_advisory_unlock(hashtextextended('etl:user-analytics', 0))`.execute(connection);
        }
      });
      expect(runs).toEqual([{ status: 'skipped', reason: 'busy' }]);
    } finally {
      await scheduler.stop();
    }
  }, 30_000);

  it('a pipeline job completes when no onRun callback is given, and so does a weekly reports job', async () => {
    const scheduler = await startEtlScheduler(database, config, fast);
    try {
      // Nothing to count and no week to report on: each job's output says so.
      const outputs: Record<string, object> = { [ETL_QUEUE]: { status: 'skipped', reason: 'up to date' }, [REPORTS_QUEUE]: { created: 0 } };
      for (const queue of [ETL_QUEUE, REPORTS_QUEUE]) {
        const jobId = await scheduler.boss.send(queue, {});
        await until(async () => ['completed', 'failed'].includes((await scheduler.boss.getJobById(queue, jobId!))?.state ?? ''));
        const job = await scheduler.boss.getJobById(queue, jobId!);
        expect({ queue, state: job!.state }).toEqual({ queue, state: 'completed' });
        expect(job!.output).toMatchObject(outputs[queue]!);
      }
    } finally {
      await scheduler.stop();
    }
  }, 30_000);

  it('stop closes the scheduler\'s connections', async () => {
    const scheduler = await startEtlScheduler(database, config, fast);
    expect(await jobConnections()).toBeGreaterThan(0);
    await scheduler.stop();
    // A closed connection's backend leaves pg_stat_activity a moment after the client lets go.
    await until(async () => (await jobConnections()) === 0);
  }, 20_000);
});
