import type { Command } from 'commander';
import { StrataError } from '../errors.js';
import type { CliContext } from './context.js';

export function registerCacheCommands(program: Command, context: CliContext): void {
  const cache = program.command('cache').description('inspect the caches of a running instance');
  cache.command('stats')
    .description('hits, misses, hit rate, sets, invalidations and errors per cache layer, read from GET /metrics of a running instance (counters are per instance, since it started)')
    .option('--url <url>', 'the instance to ask (default http://HOST:PORT, as strata serve listens with the same environment)')
    .option('--key <key>', 'an admin API key (default STRATA_ADMIN_KEY)')
    .option('--json', 'print the numbers as JSON')
    .action(async (options: { url?: string; key?: string; json?: boolean }) => {
      const { cacheStatsLines, fetchCacheStats, instanceUrl } = await import('./cache-stats.js');
      const url = options.url ?? instanceUrl(context.config);
      const key = options.key ?? context.config.STRATA_ADMIN_KEY;
      if (!key) throw new StrataError('VALIDATION_FAILED', 'GET /metrics needs an admin key: pass --key or set STRATA_ADMIN_KEY');
      const stats = await fetchCacheStats(url, key);
      if (options.json) context.out(JSON.stringify(stats));
      else for (const line of cacheStatsLines(stats, url)) context.out(line);
    });
}
