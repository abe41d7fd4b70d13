import type PgBoss from 'pg-boss';
import type { Config } from '../../config.js';
import type { Database } from '../../db/database.js';
import { startJobs, stopJobs, type Job, type JobOptions } from '../../db/jobs.js';
import { refreshStaleCounts } from '../../repositories/active-user-counts.js';
import { generateWeeklyReports } from '../../services/reports.js';
import { runPipeline, type RunResult } from './pipeline.js';

export const ETL_QUEUE = 'etl-user-analytics';
export const REPORTS_QUEUE = 'etl-weekly-reports';
/** Mondays 02:00 UTC: last week's reports, once its late rows have had a night to arrive. */
export const WEEKLY_REPORTS_CRON = '0 2 * * 1';

export interface SchedulerOptions extends JobOptions {
  onRun?(result: RunResult): void;
  /** Other jobs for the same pg-boss, declared with the pipeline's before any worker starts. */
  jobs?: readonly Job[];
}

export interface EtlScheduler {
  readonly boss: PgBoss;
  stop(): Promise<void>;
}

/**
 * Schedules the pipeline and the weekly reports on pg-boss in the same Postgres, with any other jobs
 * (startJobs). Their queues are 'stately': at most one waiting and one running job. A job that finds
 * the pipeline lock taken (a CLI run) skips rather than queues.
 */
export async function startEtlScheduler(database: Database, config: Pick<Config, 'ETL_CRON'>, options: SchedulerOptions = {}): Promise<EtlScheduler> {
  // A failed run needs no retry: the next tick starts from the same watermark.
  const queue = { policy: 'stately', retryLimit: 0, expireInSeconds: 60 * 60 } as const;
  const boss = await startJobs(database, [
    {
      queue: { name: ETL_QUEUE, ...queue },
      cron: config.ETL_CRON,
      handler: async () => {
        const result = await runPipeline(database, { wait: false });
        // After the run, off its transaction: the days it (or a user's deletion) marked stale are
        // answered live until then.
        const recounted = await refreshStaleCounts(database.admin);
        options.onRun?.(result);
        return { ...result, recounted };
      },
    },
    { queue: { name: REPORTS_QUEUE, ...queue }, cron: WEEKLY_REPORTS_CRON, handler: () => generateWeeklyReports(database) },
    ...(options.jobs ?? []),
  ], options);
  return { boss, stop: () => stopJobs(boss) };
}
