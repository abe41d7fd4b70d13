import PgBoss from 'pg-boss';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import { scheduleJobs, type Job } from '../../db/jobs.js';
import { runPipeline, type RunResult } from './pipeline.js';
import { generateWeeklyReports } from './reports.js';

export const ETL_QUEUE = 'etl-user-analytics';
export const REPORTS_QUEUE = 'etl-weekly-reports';
/** Mondays 02:00 UTC: last week's reports, once its late rows have had a night to arrive. */
export const WEEKLY_REPORTS_CRON = '0 2 * * 1';
export const BOSS_SCHEMA = 'pgboss';

export interface SchedulerOptions {
  /** How often each instance looks for due schedules and for jobs (pg-boss defaults: 30 s, 5 s and 2 s). */
  cronMonitorIntervalSeconds?: number;
  pollingIntervalSeconds?: number;
  onRun?(result: RunResult): void;
  onError?(error: unknown): void;
  /** Other jobs for the same pg-boss, declared with the pipeline's before any worker starts. */
  jobs?: readonly Job[];
}

export interface EtlScheduler {
  readonly boss: PgBoss;
  stop(): Promise<void>;
}

/**
 * Schedules the pipeline on pg-boss in the same Postgres. Every instance may call this: pg-boss
 * evaluates cron in one instance per interval (an UPDATE on its version row) and inserts one job per
 * schedule per minute (a unique singleton key), and the 'stately' queues hold at most one waiting
 * and one running job. A job that finds the pipeline lock taken (a CLI run) skips rather than queues.
 */
export async function startEtlScheduler(database: Database, config: Pick<Config, 'ETL_CRON'>, options: SchedulerOptions = {}): Promise<EtlScheduler> {
  const boss = new PgBoss({
    connectionString: database.url,
    schema: BOSS_SCHEMA,
    max: 3,
    application_name: 'strata-etl-scheduler',
    ...(options.cronMonitorIntervalSeconds === undefined ? {} : {
      cronMonitorIntervalSeconds: options.cronMonitorIntervalSeconds, cronWorkerIntervalSeconds: options.cronMonitorIntervalSeconds,
    }),
  });
  const onError = options.onError ?? (() => undefined);
  // pg-boss reports connection trouble as events; an unhandled 'error' event would end the process.
  boss.on('error', onError);
  await boss.start();
  // A failed run needs no retry: the next tick starts from the same watermark.
  const queue = { policy: 'stately', retryLimit: 0, expireInSeconds: 60 * 60 } as const;
  await scheduleJobs(boss, database, [
    {
      queue: { name: ETL_QUEUE, ...queue },
      cron: config.ETL_CRON,
      handler: async () => {
        const result = await runPipeline(database, { wait: false });
        options.onRun?.(result);
        return result;
      },
    },
    { queue: { name: REPORTS_QUEUE, ...queue }, cron: WEEKLY_REPORTS_CRON, handler: () => generateWeeklyReports(database) },
    ...(options.jobs ?? []),
  ], options);
  return {
    boss,
    async stop() {
      await boss.stop({ graceful: true, wait: true, close: true, timeout: 30_000 });
    },
  };
}
