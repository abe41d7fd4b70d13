import { describe, expect, it } from 'vitest';
import { CacheMetrics, cacheEvents, cacheLayers, hitRate } from '../../src/caching/metrics.js';

const zero = { hits: 0, misses: 0, sets: 0, invalidations: 0, errors: 0 };

/** The exposition's value of one series, or undefined when it is not exported. */
async function sample(metrics: CacheMetrics, name: string, layer: string): Promise<string | undefined> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{layer="${layer}",`));
  return line?.slice(line.lastIndexOf(' ') + 1);
}

describe('hitRate', () => {
  it('is hits over hits and misses, and null before the first lookup', () => {
    expect(hitRate({ hits: 0, misses: 0 })).toBeNull();
    expect(hitRate({ hits: 1, misses: 0 })).toBe(1);
    expect(hitRate({ hits: 0, misses: 2 })).toBe(0);
    expect(hitRate({ hits: 1, misses: 1 })).toBe(0.5);
    expect(hitRate({ hits: 1, misses: 3 })).toBe(0.25);
  });
});

describe('CacheMetrics', () => {
  it('starts every layer at zero, in a fixed order, with no hit rate', () => {
    const metrics = new CacheMetrics('memory');
    expect(metrics.backend).toBe('memory');
    expect(metrics.snapshot()).toEqual(cacheLayers.map((layer) => ({ layer, ...zero, hitRate: null })));
    expect(cacheLayers).toEqual(['session', 'query', 'response', 'etag']);
  });

  it('exports every event of every layer from zero, labelled with the backend', async () => {
    const text = await new CacheMetrics('redis').registry.metrics();
    for (const event of cacheEvents) {
      for (const layer of cacheLayers) expect(text).toContain(`strata_cache_${event}_total{layer="${layer}",backend="redis"} 0\n`);
    }
    expect(cacheEvents).toEqual(['hits', 'misses', 'sets', 'invalidations', 'errors']);
  });

  it('tallies each event in its own layer only, one at a time or by a given amount', async () => {
    const metrics = new CacheMetrics('memory');
    metrics.count('query', 'hits');
    metrics.count('query', 'hits');
    metrics.count('query', 'misses', 3);
    metrics.count('session', 'errors', 2);
    metrics.count('etag', 'sets');
    metrics.count('response', 'invalidations', 4);
    expect(metrics.snapshot()).toEqual([
      { layer: 'session', ...zero, errors: 2, hitRate: null },
      { layer: 'query', ...zero, hits: 2, misses: 3, hitRate: 0.4 },
      { layer: 'response', ...zero, invalidations: 4, hitRate: null },
      { layer: 'etag', ...zero, sets: 1, hitRate: null },
    ]);
    expect(metrics.layer('query')).toEqual({ layer: 'query', ...zero, hits: 2, misses: 3, hitRate: 0.4 });
    expect(metrics.layer('etag')).toMatchObject({ layer: 'etag', sets: 1 });
    expect(await sample(metrics, 'strata_cache_hits_total', 'query')).toBe('2');
    expect(await sample(metrics, 'strata_cache_misses_total', 'query')).toBe('3');
    expect(await sample(metrics, 'strata_cache_errors_total', 'session')).toBe('2');
    expect(await sample(metrics, 'strata_cache_invalidations_total', 'response')).toBe('4');
    expect(await sample(metrics, 'strata_cache_hits_total', 'session')).toBe('0');
  });

  it('exports a layer\'s hit ratio once it has had a lookup, and none before', async () => {
    const metrics = new CacheMetrics('memory');
    metrics.count('query', 'hits');
    metrics.count('query', 'misses', 3);
    metrics.count('etag', 'misses');
    metrics.count('session', 'sets');
    expect(await sample(metrics, 'strata_cache_hit_ratio', 'query')).toBe('0.25');
    expect(await sample(metrics, 'strata_cache_hit_ratio', 'etag')).toBe('0');
    expect(await sample(metrics, 'strata_cache_hit_ratio', 'session')).toBeUndefined();
    expect(await sample(metrics, 'strata_cache_hit_ratio', 'response')).toBeUndefined();
    metrics.count('query', 'hits', 4);
    expect(await sample(metrics, 'strata_cache_hit_ratio', 'query')).toBe('0.625');
  });

  it('also tallies a lookup in its tenant\'s own record, per layer, when it names one', () => {
    const metrics = new CacheMetrics('memory');
    metrics.count('query', 'hits', 1, 7);
    metrics.count('query', 'hits', 1, 7);
    metrics.count('query', 'misses', 1, 7);
    metrics.count('session', 'sets', 2, 7);
    metrics.count('query', 'misses', 1, 8);
    metrics.count('query', 'hits');
    expect(metrics.tenantSnapshot(7)).toEqual([
      { layer: 'session', ...zero, sets: 2, hitRate: null },
      { layer: 'query', ...zero, hits: 2, misses: 1, hitRate: 2 / 3 },
      { layer: 'response', ...zero, hitRate: null },
      { layer: 'etag', ...zero, hitRate: null },
    ]);
    expect(metrics.tenantSnapshot(8)[1]).toEqual({ layer: 'query', ...zero, misses: 1, hitRate: 0 });
    // The instance's tallies hold every lookup, the tenants' and those naming none.
    expect(metrics.layer('query')).toMatchObject({ hits: 3, misses: 2 });
  });

  it('reports zeros for a tenant it has not served', () => {
    const metrics = new CacheMetrics('memory');
    metrics.count('query', 'hits', 1, 7);
    expect(metrics.tenantSnapshot(9)).toEqual(cacheLayers.map((layer) => ({ layer, ...zero, hitRate: null })));
  });

  it('keeps separate counts for two instances in one process', () => {
    const one = new CacheMetrics('memory');
    const other = new CacheMetrics('memory');
    one.count('query', 'hits', 1, 7);
    expect(other.layer('query').hits).toBe(0);
    expect(other.tenantSnapshot(7)[1]!.hits).toBe(0);
  });
});
