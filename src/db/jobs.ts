import { sql } from 'kysely';
import type PgBoss from 'pg-boss';
import type { Database } from './database.js';

/**
 * Declares a pg-boss queue with a cron schedule (UTC). pg-boss creates a queue with DDL (a partition
 * of its job table), and two instances booting together deadlock on it (measured here;
 * supabase/storage#703): every declaration takes the same advisory lock, so they take turns.
 */
export async function declareSchedule(boss: PgBoss, database: Database, queue: PgBoss.Queue, cron: string): Promise<void> {
  await database.admin.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(hashtextextended('etl:scheduler-setup', 0))`.execute(connection);
    try {
      await boss.createQueue(queue.name, queue);
      await boss.schedule(queue.name, cron, {}, { tz: 'UTC' });
    } finally {
      await sql`select pg_advisory_unlock(hashtextextended('etl:scheduler-setup', 0))`.execute(connection);
    }
  });
}
