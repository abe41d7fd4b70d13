import type { Command } from 'commander';
import type { Database } from '../db/database.js';
import { StrataError } from '../errors.js';
import type { PipelineStatus, RunResult } from '../etl/user-analytics/pipeline.js';
import { withRuntime, type CliContext } from './context.js';
import { integerOption } from './options.js';
import { formatTable } from './table.js';

const pipeline = () => import('../etl/user-analytics/pipeline.js');
const activeUserCounts = () => import('../repositories/active-user-counts.js');

/** Recounts the daily active users the run (or a user's deletion before it) marked stale. */
async function recountStale(database: Database): Promise<string> {
  const { days, tenants } = await (await activeUserCounts()).refreshStaleCounts(database.admin);
  return tenants === 0 ? '' : `; daily active users recounted: ${days} days of ${tenants} tenants`;
}

function describeRun(result: RunResult): string {
  switch (result.status) {
    case 'succeeded':
      return `run ${result.runId} succeeded: ${result.rowsRead} rows read, ${result.rowsWritten} rows written`;
    case 'skipped':
      return result.reason === 'busy' ? 'skipped: another run is in progress' : 'up to date: no new rows';
    default:
      return `run ${result.runId} failed: ${result.quarantined} source rows quarantined`;
  }
}

export function registerEtlCommands(program: Command, context: CliContext): void {
  const etl = program.command('etl').description('the user-analytics pipeline: daily metrics, active users, reports');

  etl.command('run')
    .description('load every row committed since the last run')
    .option('--no-wait', 'return at once if another run is in progress')
    .action(async (options: { wait: boolean }) => withRuntime(context, async ({ database }) => {
      const result = await (await pipeline()).runPipeline(database, { wait: options.wait });
      if (result.status === 'failed') {
        throw new StrataError('VALIDATION_FAILED', `${describeRun(result)}; see \`strata etl status\``);
      }
      context.out(`${describeRun(result)}${await recountStale(database)}`);
    }));

  etl.command('backfill')
    .description('rebuild the metrics of the days FROM..TO (UTC) from the raw rows already loaded')
    .requiredOption('--from <day>', 'first day, YYYY-MM-DD')
    .requiredOption('--to <day>', 'last day, YYYY-MM-DD')
    .option('--days-per-batch <n>', 'days rebuilt per transaction', '7')
    .action(async (options: { from: string; to: string; daysPerBatch: string }) => {
      const daysPerBatch = integerOption('--days-per-batch', options.daysPerBatch);
      const [{ backfill }, { default: cliProgress }] = await Promise.all([pipeline(), import('cli-progress')]);
      await withRuntime(context, async ({ database }) => {
        const bar = new cliProgress.SingleBar({ format: 'backfill [{bar}] {value}/{total} days | {eta_formatted} left' },
          cliProgress.Presets.shades_classic);
        const result = await backfill(database, {
          from: options.from,
          to: options.to,
          daysPerBatch,
          onProgress: (done, total) => (done === 0 ? bar.start(total, 0) : bar.update(done)),
        }).finally(() => bar.stop());
        context.out(`rebuilt ${result.days} days from ${result.rowsRead} rows (runs ${result.runIds.join(', ')})${await recountStale(database)}`);
      });
    });

  etl.command('status')
    .description('last runs, lag, pending rows and failures')
    .option('--limit <n>', 'how many runs to list', '10')
    .option('--json', 'print JSON')
    .action(async (options: { limit: string; json?: boolean }) => {
      const limit = integerOption('--limit', options.limit);
      await withRuntime(context, async ({ database }) => {
        const status = await (await pipeline()).pipelineStatus(database, { limit });
        if (options.json) context.out(JSON.stringify(status));
        else for (const line of statusLines(status)) context.out(line);
      });
    });
}

export function statusLines(status: PipelineStatus): string[] {
  const summary = [
    `pipeline ${status.pipeline}${status.busy ? ' (running now)' : ''}`,
    `last success: ${status.lastSucceededAt?.toISOString() ?? 'never'}; lag: ${status.lagSeconds ?? '-'} s`,
    `pending: ${status.pending.user_activity} activities, ${status.pending.event} events`,
    `failures since last success: ${status.failuresSinceLastSuccess}; quarantined rows: ${status.quarantined}`,
    '',
  ];
  if (status.runs.length === 0) return [...summary, 'no runs yet: `strata etl run` starts one (serve runs it on ETL_CRON)'];
  return [...summary, ...formatTable(['run', 'mode', 'status', 'read', 'written', 'took', 'started', 'error'], status.runs.map((run) => [
    String(run.id), run.mode, run.status, String(run.rowsRead), String(run.rowsWritten),
    run.finishedAt ? `${run.finishedAt.getTime() - run.startedAt.getTime()} ms` : '-', run.startedAt.toISOString(), run.error ?? '',
  ]), ['right', 'left', 'left', 'right', 'right', 'right'])];
}
