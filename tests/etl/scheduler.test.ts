import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../src/etl/user-analytics/pipeline.js';
import {
  ETL_QUEUE, REPORTS_QUEUE, startEtlScheduler, WEEKLY_REPORTS_CRON, type EtlScheduler,
} from '../../src/etl/user-analytics/schedulers.js';
import { PARTITIONS_CRON, PARTITIONS_QUEUE, partitionMaintenanceJob } from '../../src/db/activity-partitions.js';
import { IDEMPOTENCY_CRON, IDEMPOTENCY_QUEUE, idempotencyPruningJob } from '../../src/services/idempotency.js';
import { BOSS_SCHEMA, PG_BOSS_CRON_QUEUE, retryOnDeadlock } from '../../src/db/jobs.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  catchUp, expectedMetrics, insertActivities, loadedMetrics, seedTenant,
} from './support.js';

let database: TestDatabase;
const schedulers: EtlScheduler[] = [];

beforeAll(async () => {
  database = await migratedDatabase();
});

afterAll(async () => {
  await Promise.all(schedulers.map((scheduler) => scheduler.stop()));
});

async function until(condition: () => Promise<boolean>) {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 50));
}

async function cronEvaluatedAt(): Promise<string | null> {
  const { rows: [version] } = await sql<{ cron_on: string | null }>`select cron_on::text from ${sql.table(`${BOSS_SCHEMA}.version`)}`.execute(database.admin);
  return version!.cron_on;
}

async function jobsPerTick(queue: string) {
  const { rows } = await sql<{ tick: string; jobs: number }>`
    select date_trunc('minute', created_on)::text as tick, count(*) as jobs from ${sql.table(`${BOSS_SCHEMA}.job`)}
    where name = ${queue} group by 1 order by 1`.execute(database.admin);
  return rows;
}

/** Deadlocks PostgreSQL detected in this file's database (statistics flushed within a second). */
async function deadlocks(): Promise<number> {
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const { rows: [row] } = await sql<{ deadlocks: number }>`
    select deadlocks::int as deadlocks from pg_stat_database where datname = current_database()`.execute(database.admin);
  return row!.deadlocks;
}

describe('startEtlScheduler', () => {
  it('on two instances sharing a database, stores one schedule and runs one pipeline job per cron tick', async () => {
    const tenant = await seedTenant(database, 2);
    await insertActivities(database, [
      { tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-07-01T10:00:00Z' },
      { tenantId: tenant.tenantId, userId: tenant.userIds[1]!, type: 'login', at: '2025-07-01T11:00:00Z' },
    ]);
    const runs: RunResult[] = [];
    const errors: unknown[] = [];
    const options = {
      cronMonitorIntervalSeconds: 1, pollingIntervalSeconds: 0.5, onRun: (run: RunResult) => runs.push(run), onError: (error: unknown) => errors.push(error),
      // Every job `strata serve` runs: two instances booting together create each queue once, without deadlocking.
      jobs: [partitionMaintenanceJob(database), idempotencyPruningJob(database, 24)],
    };
    // Every minute, so that the evaluations below all fall on a due tick.
    schedulers.push(...await Promise.all([1, 2].map(() => startEtlScheduler(database, { ETL_CRON: '* * * * *' }, options))));

    const schedules = await sql<{ name: string; cron: string }>`select name, cron from ${sql.table(`${BOSS_SCHEMA}.schedule`)} order by name`.execute(database.admin);
    expect(schedules.rows).toEqual([
      { name: ETL_QUEUE, cron: '* * * * *' }, { name: REPORTS_QUEUE, cron: WEEKLY_REPORTS_CRON },
      { name: IDEMPOTENCY_QUEUE, cron: IDEMPOTENCY_CRON }, { name: PARTITIONS_QUEUE, cron: PARTITIONS_CRON },
    ].sort((a, b) => (a.name < b.name ? -1 : 1)));
    // pg-boss's own cron queue was declared with ours, under the lock: it creates no other.
    const queues = await sql<{ name: string }>`select name from ${sql.table(`${BOSS_SCHEMA}.queue`)} order by name`.execute(database.admin);
    expect(queues.rows.map((row) => row.name))
      .toEqual([PG_BOSS_CRON_QUEUE, ETL_QUEUE, REPORTS_QUEUE, IDEMPOTENCY_QUEUE, PARTITIONS_QUEUE].sort());

    await until(async () => runs.length > 0);
    // Let both instances evaluate the due cron several more times after the first job ran.
    for (let evaluations = 0; evaluations < 2; evaluations += 1) {
      const seen = await cronEvaluatedAt();
      await until(async () => (await cronEvaluatedAt()) !== seen);
    }
    const ticks = await jobsPerTick(ETL_QUEUE);
    expect(ticks.length).toBeGreaterThanOrEqual(1);
    expect(ticks.every((tick) => tick.jobs === 1)).toBe(true);
    expect(errors).toEqual([]);

    await until(async () => runs.length >= ticks.length);
    expect(runs.every((run) => run.status !== 'skipped' || run.reason === 'up to date')).toBe(true);
    await catchUp(database);
    expect(await loadedMetrics(database, [tenant.tenantId])).toEqual(await expectedMetrics(database, [tenant.tenantId]));
    // pg-boss swallows a deadlock in its own queue creation; the server's statistics still count it.
    expect(await deadlocks()).toBe(0);
  });

  it('starts and stops with pg-boss\'s own intervals', async () => {
    const scheduler = await startEtlScheduler(database, { ETL_CRON: '*/5 * * * *' });
    const { rows } = await sql<{ cron: string }>`select cron from ${sql.table(`${BOSS_SCHEMA}.schedule`)} where name = ${ETL_QUEUE}`.execute(database.admin);
    expect(rows).toEqual([{ cron: '*/5 * * * *' }]);
    await scheduler.stop();
  });

  it('runs the weekly reports job it is sent', async () => {
    const [scheduler] = schedulers;
    const jobId = await scheduler!.boss.send(REPORTS_QUEUE, {});
    await until(async () => (await scheduler!.boss.getJobById(REPORTS_QUEUE, jobId!))?.state === 'completed');
    const job = await scheduler!.boss.getJobById(REPORTS_QUEUE, jobId!);
    expect(job!.output).toMatchObject({ created: 0 });
  });
});

describe('retryOnDeadlock', () => {
  /** Two transactions that each lock one row, then the other's: PostgreSQL aborts one with 40P01. */
  async function deadlockOnce(table: string, first: number, second: number) {
    await database.admin.transaction().execute(async (trx) => {
      await sql`select * from ${sql.table(table)} where id = ${first} for update`.execute(trx);
      await new Promise((resolve) => setTimeout(resolve, 100));
      await sql`select * from ${sql.table(table)} where id = ${second} for update`.execute(trx);
      await sql`update ${sql.table(table)} set runs = runs + 1 where id = ${first}`.execute(trx);
    });
  }

  it('runs the deadlock\'s victim again, so both transactions commit', async () => {
    await sql`create table deadlock_rows (id int primary key, runs int not null default 0)`.execute(database.admin);
    await sql`insert into deadlock_rows (id) values (1), (2)`.execute(database.admin);
    let attempts = 0;
    const counted = (first: number, second: number) => retryOnDeadlock(() => {
      attempts += 1;
      return deadlockOnce('deadlock_rows', first, second);
    });
    await Promise.all([counted(1, 2), counted(2, 1)]);
    const { rows } = await sql<{ runs: number }>`select runs from deadlock_rows order by id`.execute(database.admin);
    expect(rows).toEqual([{ runs: 1 }, { runs: 1 }]);
    expect(attempts).toBe(3);
  });

  it('throws any other error at once, and a deadlock on the last attempt', async () => {
    let attempts = 0;
    const failing = (code: string) => retryOnDeadlock(async () => {
      attempts += 1;
      throw Object.assign(new Error(code), { code });
    }, 3);
    await expect(failing('23505')).rejects.toMatchObject({ code: '23505' });
    expect(attempts).toBe(1);
    await expect(failing('40P01')).rejects.toMatchObject({ code: '40P01' });
    expect(attempts).toBe(4);
  });
});
