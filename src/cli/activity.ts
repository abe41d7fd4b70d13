import type { Command } from 'commander';
import {
  MONTHS_AHEAD, MONTHS_BACK, ensureMonthlyPartitions, listActivityPartitions, type ActivityPartition,
} from '../db/activity-partitions.js';
import { pruneActivityPartitions } from '../services/activity-retention.js';
import { utcDay } from '../models/analytics.js';
import { withRuntime, type CliContext } from './context.js';
import { integerOption } from './options.js';

const range = (partition: ActivityPartition) => `[${utcDay(partition.from!)}, ${utcDay(partition.to!)})`;
const months = (name: string, value: string) => integerOption(name, value, 0, 9999);

export function registerActivityCommands(program: Command, context: CliContext): void {
  const activity = program.command('activity').description('the activity log: monthly partitions and retention');

  activity.command('prune')
    .description('drop whole monthly partitions older than an interval (constant time; the default partition and the month holding the cutoff stay)')
    .requiredOption('--older-than <interval>', 'a PostgreSQL interval, e.g. "90 days" or "12 months"')
    .option('--dry-run', 'print what would be dropped, drop nothing')
    .option('--drop-uncounted', 'drop partitions even if they hold rows the analytics pipeline has not counted yet')
    .action(async (options: { olderThan: string; dryRun?: boolean; dropUncounted?: boolean }) => withRuntime(context, async ({ database }) => {
      const result = await pruneActivityPartitions(database, options.olderThan, { dryRun: options.dryRun, dropUncounted: options.dropUncounted });
      const verb = options.dryRun ? 'would drop' : 'dropped';
      for (const partition of result.dropped) context.out(`${verb} ${partition.name} ${range(partition)}`);
      const kept = result.straddling ? `; kept ${result.straddling.name} ${range(result.straddling)}, which holds the cutoff` : '';
      context.out(`${verb} ${result.dropped.length} partition${result.dropped.length === 1 ? '' : 's'} older than ${result.cutoff.toISOString()}${kept}`);
    }));

  activity.command('partitions')
    .description('create the missing monthly partitions now (the daily job does the same), then list them')
    .option('--months-ahead <n>', 'months after the current one', String(MONTHS_AHEAD))
    .option('--months-back <n>', 'months before the current one; rows of those months in the default partition move into them', String(MONTHS_BACK))
    .action(async (options: { monthsAhead: string; monthsBack: string }) => {
      const window = { monthsAhead: months('--months-ahead', options.monthsAhead), monthsBack: months('--months-back', options.monthsBack) };
      await withRuntime(context, async ({ database }) => {
        const { created, moved } = await ensureMonthlyPartitions(database, window);
        context.out(`created ${created.length} partition${created.length === 1 ? '' : 's'}${created.length ? `: ${created.join(', ')}` : ''}`
          + `${moved ? `; moved ${moved} rows out of the default partition` : ''}`);
        for (const partition of await listActivityPartitions(database.admin)) {
          context.out(`  ${partition.name}${partition.from ? ` ${range(partition)}` : ' (default)'}`);
        }
      });
    });
}
