import { Counter, Gauge, Registry } from 'prom-client';

export const cacheLayers = ['session', 'query', 'response', 'etag'] as const;
export type CacheLayer = (typeof cacheLayers)[number];

export const cacheEvents = ['hits', 'misses', 'sets', 'invalidations', 'errors'] as const;
export type CacheEvent = (typeof cacheEvents)[number];

export type LayerStats = { layer: CacheLayer; hitRate: number | null } & Record<CacheEvent, number>;

/** Hits over lookups; null before the first lookup. */
export function hitRate({ hits, misses }: { hits: number; misses: number }): number | null {
  return hits + misses === 0 ? null : hits / (hits + misses);
}

const help: Record<CacheEvent, string> = {
  hits: 'Lookups answered from the cache',
  misses: 'Lookups answered from the database (and stored when they could be)',
  sets: 'Values written to the cache',
  invalidations: 'Versions bumped after a write committed',
  errors: 'Operations the cache backend could not serve (Redis down or slow): answered from the database',
};

const emptyTally = (): Record<CacheEvent, number> => ({ hits: 0, misses: 0, sets: 0, invalidations: 0, errors: 0 });

interface Increment {
  inc(value?: number): void;
}

/**
 * Hits, misses, sets, invalidations and errors per layer, as Prometheus counters in a registry of
 * this instance's own (two apps in one process keep separate counts), plus plain tallies for
 * `strata cache stats` and the benchmark, which need numbers without parsing the exposition format.
 */
export class CacheMetrics {
  readonly registry = new Registry();
  readonly #tallies = new Map<CacheLayer, Record<CacheEvent, number>>();
  /** The same tallies per tenant, for its own keys' lookups (one small record per tenant served). */
  readonly #tenantTallies = new Map<number, Map<CacheLayer, Record<CacheEvent, number>>>();
  readonly #series = new Map<string, Increment>();

  constructor(readonly backend: string) {
    this.registry.setDefaultLabels({ backend });
    for (const event of cacheEvents) {
      const counter = new Counter({ name: `strata_cache_${event}_total`, help: help[event], labelNames: ['layer'], registers: [this.registry] });
      // Bound children skip label hashing on the hot path, and every series is exported from zero.
      for (const layer of cacheLayers) {
        const series = counter.labels(layer);
        series.inc(0);
        this.#series.set(`${event}:${layer}`, series);
      }
    }
    for (const layer of cacheLayers) this.#tallies.set(layer, { hits: 0, misses: 0, sets: 0, invalidations: 0, errors: 0 });
    const tallies = this.#tallies;
    new Gauge({
      name: 'strata_cache_hit_ratio',
      help: 'hits / (hits + misses) since the process started; absent for a layer with no lookups yet',
      labelNames: ['layer'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [layer, tally] of tallies) {
          const lookups = tally.hits + tally.misses;
          if (lookups > 0) this.set({ layer }, tally.hits / lookups);
        }
      },
    });
  }

  count(layer: CacheLayer, event: CacheEvent, value = 1, tenantId?: number): void {
    this.#tallies.get(layer)![event] += value;
    this.#series.get(`${event}:${layer}`)!.inc(value);
    if (tenantId !== undefined) {
      let tenant = this.#tenantTallies.get(tenantId);
      if (!tenant) this.#tenantTallies.set(tenantId, tenant = new Map(cacheLayers.map((one) => [one, emptyTally()])));
      tenant.get(layer)![event] += value;
    }
  }

  /**
   * One tenant's hits, misses and sets per layer on this instance since it started (invalidations
   * and backend errors are the instance's, not a tenant's lookups, and stay in snapshot() only).
   */
  tenantSnapshot(tenantId: number): LayerStats[] {
    const tenant = this.#tenantTallies.get(tenantId);
    return cacheLayers.map((layer) => {
      const tally = tenant?.get(layer) ?? emptyTally();
      return { layer, ...tally, hitRate: hitRate(tally) };
    });
  }

  snapshot(): LayerStats[] {
    return cacheLayers.map((layer) => ({ layer, ...this.#tallies.get(layer)!, hitRate: hitRate(this.#tallies.get(layer)!) }));
  }

  layer(layer: CacheLayer): LayerStats {
    return this.snapshot().find((stats) => stats.layer === layer)!;
  }
}
