import { sql } from 'kysely';
import PgBoss from 'pg-boss';
import type { Database } from './database.js';
import { onCitusCluster } from './distribution.js';

export const BOSS_SCHEMA = 'pgboss';
/**
 * The queue pg-boss 10's own cron worker uses (its timekeeper creates it at start and polls it).
 * Declared with ours, so that its creation (DDL) is serialized with theirs; a test checks the name.
 */
export const PG_BOSS_CRON_QUEUE = '__pgboss__send-it';

export interface JobOptions {
  /** How often the workers look for jobs (pg-boss's default: 2 s). */
  pollingIntervalSeconds?: number;
  /** How often each instance looks for due schedules and sends their jobs (pg-boss's defaults: 30 s and 5 s). */
  cronMonitorIntervalSeconds?: number;
  /** Connection trouble and failed jobs: pg-boss reports them as events, and an unhandled one would end the process. */
  onError?: (error: unknown) => void;
}

/** A pg-boss queue with a cron schedule (UTC) and the handler that works its jobs. */
export interface Job {
  readonly queue: PgBoss.Queue;
  readonly cron: string;
  readonly handler: () => Promise<unknown>;
}

const DEADLOCK = '40P01';

/**
 * How pg-boss connects. On a Citus cluster its queue stays in plain tables on the coordinator: Citus
 * would otherwise propagate pg-boss's schema, types and functions to the workers, sending the whole
 * multi-statement set-up there too, which the workers refuse ("operation is not allowed on this
 * node"). The queue is coordinator work (claims with SKIP LOCKED, one row per job), never tenant
 * data, so nothing is gained by spreading it, and queue DDL at run time (a table per queue) stays local.
 */
async function bossConnection(database: Database): Promise<{ connectionString: string; options?: string }> {
  const citus = await onCitusCluster(database);
  return citus ? { connectionString: database.url, options: '-c citus.enable_ddl_propagation=off' } : { connectionString: database.url };
}

/**
 * Runs `step` again when PostgreSQL chose it as a deadlock's victim (40P01): the victim's transaction
 * is rolled back whole, so a retry is the documented answer. Any other error, or a deadlock on the
 * last attempt, is thrown.
 */
export async function retryOnDeadlock<T>(step: () => Promise<T>, attempts = 5): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await step();
    } catch (error) {
      if (attempt >= attempts || (error as { code?: string }).code !== DEADLOCK) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}

/**
 * Creates every queue and schedule with a pg-boss of its own that polls nothing (no workers, no
 * supervision, no cron), under one advisory lock taken in turns across instances. pg-boss creates a
 * queue with DDL: it inserts the queue's row, then adds a foreign key to the queue table, which takes
 * a SHARE ROW EXCLUSIVE lock that another creation's insert holds off; two creations at once always
 * deadlock (seen in the server log), and pg-boss's own start creates its cron queue. An instance
 * booting alone or with others thus creates every queue, pg-boss's cron queue included, before any
 * of its own pollers starts, and a later instance finds them all created (no DDL). A queue added by a
 * new release while older instances run can still meet their work: that DDL is retried on deadlock.
 */
async function declareJobs(database: Database, jobs: readonly Job[]): Promise<void> {
  await database.admin.connection().execute(async (connection) => {
    await sql`select pg_advisory_lock(hashtextextended('strata:job-setup', 0))`.execute(connection);
    const setup = new PgBoss({
      ...(await bossConnection(database)), schema: BOSS_SCHEMA, max: 1, supervise: false, schedule: false, application_name: 'strata-job-setup',
    });
    try {
      await setup.start();
      await retryOnDeadlock(() => setup.createQueue(PG_BOSS_CRON_QUEUE));
      for (const { queue, cron } of jobs) {
        await retryOnDeadlock(() => setup.createQueue(queue.name, queue));
        await setup.schedule(queue.name, cron, {}, { tz: 'UTC' });
      }
    } finally {
      await setup.stop({ graceful: false, close: true });
      await sql`select pg_advisory_unlock(hashtextextended('strata:job-setup', 0))`.execute(connection);
    }
  });
}

/**
 * Declares the jobs (see declareJobs), then starts a pg-boss in the same Postgres that runs their
 * schedules and works them. Every instance may call this: pg-boss evaluates cron in one instance per
 * interval and inserts one job per schedule per minute (a unique singleton key).
 */
export async function startJobs(database: Database, jobs: readonly Job[], options: JobOptions = {}): Promise<PgBoss> {
  await declareJobs(database, jobs);
  const cron = options.cronMonitorIntervalSeconds;
  const boss = new PgBoss({
    ...(await bossConnection(database)),
    schema: BOSS_SCHEMA,
    max: 3,
    application_name: 'strata-jobs',
    ...(cron === undefined ? {} : { cronMonitorIntervalSeconds: cron, cronWorkerIntervalSeconds: cron }),
  });
  boss.on('error', options.onError ?? (() => undefined));
  const polling = options.pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds: options.pollingIntervalSeconds };
  try {
    await boss.start();
    for (const { queue, handler } of jobs) await boss.work(queue.name, polling, handler);
  } catch (error) {
    await boss.stop({ graceful: false, close: true });
    throw error;
  }
  return boss;
}

/** Stops taking jobs, lets running ones finish (up to 30 s), and closes the pool. */
export async function stopJobs(boss: PgBoss): Promise<void> {
  await boss.stop({ graceful: true, wait: true, close: true, timeout: 30_000 });
}
