import type { CacheMetrics } from './metrics.js';
import { deepFreeze, type CacheEntry, type CacheStore } from './store.js';

/**
 * Seams around the two moments a reader can race a writer. Production passes none; the race tests
 * use them to hold a reader there while a write commits.
 */
export interface ReadThroughHooks {
  /** The version has been read; the database has not. */
  afterVersionRead?(entry: CacheEntry): void | Promise<void>;
  /** The database has been read; the value is not stored yet. */
  beforeStore?(entry: CacheEntry): void | Promise<void>;
}

export interface CacheContext {
  readonly store: CacheStore;
  readonly metrics: CacheMetrics;
  readonly hooks: ReadThroughHooks;
}

/**
 * The cached value, or load() stored under the version read *before* load() ran. A write that
 * commits while load() runs bumps that version afterwards, so what load() saw is stored where no
 * later reader looks. null and undefined (not found, refused) are never stored.
 *
 * Storing may finish after this returns. That is safe for the same reason: the copy goes under the
 * version read before the load, whenever it lands; and commands on one Redis connection are served
 * in order, so this instance's next read cannot overtake its own store.
 */
export async function readThrough<T>(context: CacheContext, entry: CacheEntry, load: () => Promise<T>): Promise<T> {
  const probe = await context.store.read(entry);
  if (probe.value !== undefined) {
    context.metrics.count(entry.layer, 'hits', 1, entry.tenantId);
    return probe.value as T;
  }
  context.metrics.count(entry.layer, 'misses', 1, entry.tenantId);
  await context.hooks.afterVersionRead?.(entry);
  const value = deepFreeze(await load());
  if (probe.version !== undefined && value !== null && value !== undefined) {
    await context.hooks.beforeStore?.(entry);
    // Not awaited: the reader has its value and need not wait for Redis to confirm a copy. Sets
    // are counted once stored; a store never throws.
    void context.store.write(entry, probe.version, value).then((stored) => {
      if (stored) context.metrics.count(entry.layer, 'sets', 1, entry.tenantId);
    });
  }
  return value;
}
