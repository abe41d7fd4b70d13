import { sql } from 'kysely';
import type PgBoss from 'pg-boss';
import type { Database } from './database.js';

export interface JobOptions {
  /** How often the worker looks for jobs (pg-boss's default: 2 s). */
  pollingIntervalSeconds?: number;
}

/**
 * Declares a pg-boss queue with a cron schedule (UTC) and works its jobs with handler. pg-boss
 * creates a queue with DDL (a partition of its job table), and two instances booting together
 * deadlock on it (measured here; supabase/storage#703): every declaration takes the same advisory
 * lock, so they take turns.
 */
export async function scheduleJob(boss: PgBoss, database: Database, queue: PgBoss.Queue, cron: string,
  handler: () => Promise<unknown>, options: JobOptions = {}): Promise<void> {
  await database.admin.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(hashtextextended('etl:scheduler-setup', 0))`.execute(connection);
    try {
      await boss.createQueue(queue.name, queue);
      await boss.schedule(queue.name, cron, {}, { tz: 'UTC' });
    } finally {
      await sql`select pg_advisory_unlock(hashtextextended('etl:scheduler-setup', 0))`.execute(connection);
    }
  });
  const polling = options.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: options.pollingIntervalSeconds };
  await boss.work(queue.name, polling, handler);
}
