import pino from 'pino';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { onCitusCluster } from '../db/distribution.js';
import { DatabaseVersions } from './database-versions.js';
import { Invalidation } from './invalidation.js';
import { CacheKeys } from './keys.js';
import { MemoryStore } from './memory-store.js';
import { CacheMetrics } from './metrics.js';
import { QueryCache } from './query-cache.js';
import type { CacheContext, ReadThroughHooks } from './read-through.js';
import { RedisStore, type CacheLogger } from './redis-store.js';
import { SessionCache } from './session-cache.js';
import { NoStore, type CacheStore } from './store.js';

export type CacheConfig = Pick<Config, 'REDIS_URL' | 'CACHE_TTL_SECONDS' | 'REDIS_TIMEOUT_MS' | 'CACHE_MAX_ENTRIES'
  | 'CACHE_KEY_PREFIX' | 'CACHE_WARN_INTERVAL_SECONDS'>;

export interface CacheOptions {
  config: CacheConfig;
  database: Database;
  logger?: CacheLogger;
  hooks?: ReadThroughHooks;
  /** Redis only: values kept in-process beside Redis (default CACHE_MAX_ENTRIES; 0 turns it off). */
  nearCacheMax?: number;
  /** Redis only: how long a failure keeps Redis out of the path (default 1 s). */
  retryAfterMs?: number;
  /** Redis only: the server the invalidation listener connects to (default: the database's URL; a cluster's coordinator). */
  listenUrl?: string;
  /** Redis only, on a Citus cluster: the address to poll a worker at, given the one pg_dist_node names. */
  nodeUrl?: (url: string) => string;
  /** Redis only: how often the listener proves it is current, and how long one proof lasts (100 ms / 1 s). */
  heartbeatMs?: number;
  leaseMs?: number;
}

export interface Caches {
  readonly backend: CacheStore['backend'];
  readonly keys: CacheKeys;
  readonly metrics: CacheMetrics;
  readonly store: CacheStore;
  readonly session: SessionCache;
  readonly query: QueryCache;
  readonly invalidation: Invalidation;
  readonly ttlSeconds: number;
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

// authenticate() refreshes api_key.last_used_at at most once a minute; a session kept longer than
// that would let the hint go stale, so sessions live at most a minute whatever CACHE_TTL_SECONDS is.
const MAX_SESSION_TTL_SECONDS = 60;

function assemble(store: CacheStore, metrics: CacheMetrics, keys: CacheKeys, database: Database, ttlSeconds: number, hooks: ReadThroughHooks = {}): Caches {
  const context: CacheContext = { store, metrics, hooks };
  return {
    backend: store.backend,
    keys,
    metrics,
    store,
    session: new SessionCache(context, keys, Math.min(ttlSeconds, MAX_SESSION_TTL_SECONDS)),
    query: new QueryCache(context, keys, database, ttlSeconds),
    invalidation: new Invalidation(context, keys),
    ttlSeconds,
    ready: (timeoutMs) => store.ready(timeoutMs),
    close: () => store.close(),
  };
}

/** Redis when REDIS_URL is set (coherent across instances), else this process's memory. */
export function createCaches(options: CacheOptions): Caches {
  const { config } = options;
  const keys = new CacheKeys(config.CACHE_KEY_PREFIX);
  if (!config.REDIS_URL) {
    const metrics = new CacheMetrics('memory');
    return assemble(new MemoryStore({ maxEntries: config.CACHE_MAX_ENTRIES }), metrics, keys, options.database, config.CACHE_TTL_SECONDS, options.hooks);
  }
  const metrics = new CacheMetrics('redis');
  const logger = options.logger ?? pino({ name: 'strata-cache' });
  let store: RedisStore | undefined;
  const versions = new DatabaseVersions({
    url: options.listenUrl ?? options.database.url,
    pool: options.database.pool,
    cluster: () => onCitusCluster(options.database),
    logger,
    warnIntervalMs: config.CACHE_WARN_INTERVAL_SECONDS * 1000,
    maxScopes: config.CACHE_MAX_ENTRIES * 2,
    heartbeatMs: options.heartbeatMs,
    leaseMs: options.leaseMs,
    nodeUrl: options.nodeUrl,
    onReset: () => store?.dropNearCopies(),
  });
  store = new RedisStore({
    url: config.REDIS_URL,
    keys,
    metrics,
    logger,
    timeoutMs: config.REDIS_TIMEOUT_MS,
    warnIntervalMs: config.CACHE_WARN_INTERVAL_SECONDS * 1000,
    nearCacheMax: options.nearCacheMax ?? config.CACHE_MAX_ENTRIES,
    versionTtlSeconds: config.CACHE_TTL_SECONDS * 2,
    retryAfterMs: options.retryAfterMs,
    versions,
  });
  return assemble(store, metrics, keys, options.database, config.CACHE_TTL_SECONDS, options.hooks);
}

/** For an app built without caches: the same interfaces, nothing kept, every lookup from the database. */
export function disabledCaches(database: Database): Caches {
  return assemble(new NoStore(), new CacheMetrics('none'), new CacheKeys('strata'), database, 300);
}
