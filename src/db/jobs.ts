import { sql } from 'kysely';
import type PgBoss from 'pg-boss';
import type { Database } from './database.js';

export interface JobOptions {
  /** How often the worker looks for jobs (pg-boss's default: 2 s). */
  pollingIntervalSeconds?: number;
}

/** A pg-boss queue with a cron schedule (UTC) and the handler that works its jobs. */
export interface Job {
  readonly queue: PgBoss.Queue;
  readonly cron: string;
  readonly handler: () => Promise<unknown>;
}

/**
 * Declares every job's queue and schedule, then works them all. pg-boss creates a new queue with DDL
 * (a partition of its job table), which deadlocks against another connection's job fetch (measured
 * here; supabase/storage#703). So the declarations take one advisory lock, in turns across
 * instances, and all of a process's jobs are declared before any of its workers polls: the first
 * instance creates every queue before it fetches, and a later one finds them all created (no DDL).
 */
export async function scheduleJobs(boss: PgBoss, database: Database, jobs: readonly Job[], options: JobOptions = {}): Promise<void> {
  await database.admin.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(hashtextextended('strata:job-setup', 0))`.execute(connection);
    try {
      for (const { queue, cron } of jobs) {
        await boss.createQueue(queue.name, queue);
        await boss.schedule(queue.name, cron, {}, { tz: 'UTC' });
      }
    } finally {
      await sql`select pg_advisory_unlock(hashtextextended('strata:job-setup', 0))`.execute(connection);
    }
  });
  const polling = options.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: options.pollingIntervalSeconds };
  for (const { queue, handler } of jobs) await boss.work(queue.name, polling, handler);
}
