import type { Command } from 'commander';
import { StrataError } from '../errors.js';
import { cacheEvents, cacheLayers, hitRate, type LayerStats } from '../caching/metrics.js';
import type { CliContext } from './context.js';

interface MetricJson {
  name: string;
  values: Array<{ value: number; labels: Record<string, string | number> }>;
}

/** The per-layer counters out of prom-client's JSON form of GET /metrics. */
export function layerStats(metrics: MetricJson[]): { backend: string; layers: LayerStats[] } {
  let backend = 'unknown';
  const layers = cacheLayers.map((layer) => {
    const stats: LayerStats = { layer, hits: 0, misses: 0, sets: 0, invalidations: 0, errors: 0, hitRate: null };
    for (const event of cacheEvents) {
      const sample = metrics.find((metric) => metric.name === `strata_cache_${event}_total`)?.values.find((value) => value.labels.layer === layer);
      if (sample) {
        stats[event] = sample.value;
        backend = String(sample.labels.backend ?? backend);
      }
    }
    return { ...stats, hitRate: hitRate(stats) };
  });
  return { backend, layers };
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  '));
}

export function registerCacheCommands(program: Command, context: CliContext): void {
  const cache = program.command('cache').description('inspect the caches of a running instance');
  cache.command('stats')
    .description('hits, misses, hit rate, sets, invalidations and errors per cache layer, read from GET /metrics of a running instance (counters are per instance, since it started)')
    .option('--url <url>', 'the instance to ask (default http://HOST:PORT)')
    .option('--key <key>', 'an admin API key (default STRATA_ADMIN_KEY)')
    .option('--json', 'print the numbers as JSON')
    .action(async (options: { url?: string; key?: string; json?: boolean }) => {
      const url = options.url ?? `http://${context.config.HOST}:${context.config.PORT}`;
      const key = options.key ?? context.config.STRATA_ADMIN_KEY;
      if (!key) throw new StrataError('VALIDATION_FAILED', 'GET /metrics needs an admin key: pass --key or set STRATA_ADMIN_KEY');
      let response: Response;
      try {
        response = await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${key}`, accept: 'application/json' } });
      } catch (error) {
        throw new Error(`cannot reach ${url}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
      }
      if (!response.ok) throw new Error(`GET ${url}/metrics answered ${response.status}`);
      const stats = layerStats(await response.json() as MetricJson[]);
      if (options.json) {
        context.out(JSON.stringify(stats));
        return;
      }
      context.out(`backend: ${stats.backend} (${url})`);
      const rows = [['layer', 'hits', 'misses', 'hit rate', 'sets', 'invalidations', 'errors']];
      for (const layer of stats.layers) {
        rows.push([layer.layer, String(layer.hits), String(layer.misses), layer.hitRate === null ? '-' : `${(layer.hitRate * 100).toFixed(1)}%`,
          String(layer.sets), String(layer.invalidations), String(layer.errors)]);
      }
      for (const line of table(rows)) context.out(line);
    });
}
