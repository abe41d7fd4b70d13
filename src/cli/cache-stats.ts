import { cacheEvents, cacheLayers, hitRate, type LayerStats } from '../caching/metrics.js';
import type { Config } from '../config.js';
import { StrataError, errorCatalogue, type ErrorCode } from '../errors.js';
import { CliError } from './failure.js';
import { formatTable } from './table.js';

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

/**
 * Where `strata serve` listens with this configuration. A wildcard HOST (0.0.0.0, ::) is where it
 * accepts connections, not an address to connect to: the same machine reaches it on loopback.
 */
export function instanceUrl(config: Pick<Config, 'HOST' | 'PORT'>): string {
  const host = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST === '::' ? '::1' : config.HOST;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.PORT}`;
}

/** The instance's own error code when it sent one (UNAUTHENTICATED for a wrong key), else its status. */
async function refusal(response: Response, url: string): Promise<Error> {
  const body = await response.json().catch(() => null) as { error?: { code?: string; message?: string } } | null;
  const code = body?.error?.code;
  if (code && code in errorCatalogue) {
    const why = code === 'UNAUTHENTICATED' ? 'the admin key was refused (--key or STRATA_ADMIN_KEY: the key the instance printed or was started with)'
      : body.error!.message ?? code;
    return new StrataError(code as ErrorCode, `GET ${url}/metrics answered ${response.status}: ${why}`);
  }
  return new Error(`GET ${url}/metrics answered ${response.status}`);
}

export async function fetchCacheStats(url: string, key: string): Promise<ReturnType<typeof layerStats>> {
  let response: Response;
  try {
    response = await fetch(new URL('/metrics', url), { headers: { authorization: `Bearer ${key}`, accept: 'application/json' } });
  } catch (error) {
    throw new CliError('INSTANCE_UNREACHABLE', `cannot reach ${url}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`,
      'start one with `strata serve`, or point at it with --url or HOST and PORT');
  }
  if (!response.ok) throw await refusal(response, url);
  return layerStats(await response.json() as MetricJson[]);
}

export function cacheStatsLines(stats: ReturnType<typeof layerStats>, url: string): string[] {
  return [
    `backend: ${stats.backend} (${url})`,
    ...formatTable(['layer', 'hits', 'misses', 'hit rate', 'sets', 'invalidations', 'errors'], stats.layers.map((layer) => [
      layer.layer, String(layer.hits), String(layer.misses), layer.hitRate === null ? '-' : `${(layer.hitRate * 100).toFixed(1)}%`,
      String(layer.sets), String(layer.invalidations), String(layer.errors),
    ]), ['left', 'right', 'right', 'right', 'right', 'right', 'right']),
  ];
}
