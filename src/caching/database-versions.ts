import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import { NotifyFeed } from './notify-feed.js';
import { PollFeed } from './poll-feed.js';
import { reconnectDelay, type CacheLogger } from './redis-store.js';
import type { FeedEvents, FeedOptions, VersionFeed } from './version-feed.js';

export interface DatabaseVersionsOptions {
  /** The feed's server (a cluster's coordinator): connections of its own, never the pool's. */
  url: string;
  /** Versions not yet heard of are read here (the pool the reads use, so its query count shows them). */
  pool: pg.Pool;
  /** Whether the database is a Citus cluster: its versions are then polled, not heard. */
  cluster(): Promise<boolean>;
  logger: CacheLogger;
  warnIntervalMs: number;
  maxScopes: number;
  /** How often the feed proves it is current (default 100 ms). */
  heartbeatMs?: number;
  /** How long one proof is trusted (default 1 s): a writer that could not reach Redis waits this long. */
  leaseMs?: number;
  /** On a cluster: the address to reach a worker at, given the one its node list names. */
  nodeUrl?: (url: string) => string;
  /** Called whenever what was heard stops being trusted: near copies must go too. */
  onReset(): void;
  /** Opens each feed (default: polled on a cluster, heard on a single server); tests pass one they drive. */
  openFeed?: (cluster: boolean, options: FeedOptions, events: FeedEvents) => VersionFeed;
}

const openFeed = (cluster: boolean, options: FeedOptions, events: FeedEvents): VersionFeed =>
  cluster ? new PollFeed(options, events) : new NotifyFeed(options, events);

// Every scope of one cached value belongs to one tenant (keys.ts): one shard group on a cluster.
const VERSIONS_QUERY = 'select scope, version from cache_version where tenant_id = $1 and scope = any($2::text[])';

/**
 * The scope versions in PostgreSQL, as this instance knows them: read once, then kept current by a
 * feed, which hears the NOTIFYs migration 0019's triggers send at commit on a single server and
 * polls every node of a Citus cluster (migration 0023). A cached value is served only under the
 * versions known here, so a commit whose Redis bump never happened (writer cut off from Redis or
 * killed, Redis restored from a snapshot) still strands every older copy.
 *
 * What was learned is trusted only while the feed is provably current: its proof that every commit
 * before t is known lets the lease run `leaseMs` from t. While it has lapsed (feed stalled, cut,
 * reconnecting) nothing is served from the cache, and what was learned is forgotten; a writer that
 * could not bump Redis waits out one lease before answering, after which every instance either has
 * learned its commit or serves from the database.
 */
export class DatabaseVersions {
  readonly #known: LRUCache<string, number>;
  readonly #heartbeatMs: number;
  readonly #leaseMs: number;
  #feed: VersionFeed | null = null;
  /** Counts feeds: events of one that was replaced are ignored. */
  #session = 0;
  #trustedUntil = 0;
  #generation = 0;
  #reconnect: NodeJS.Timeout | undefined;
  #attempt = 0;
  #closed = false;
  #lastWarning = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: DatabaseVersionsOptions) {
    this.#known = new LRUCache<string, number>({ max: options.maxScopes });
    this.#heartbeatMs = options.heartbeatMs ?? 100;
    // Long enough that a starved process (2 cores shared five ways in CI) does not lapse it between
    // heartbeats and fall back to the database; it only costs a writer that could not reach Redis.
    this.#leaseMs = options.leaseMs ?? 1000;
    void this.#start();
  }

  /** True while every commit up to a moment less than one lease ago is known. */
  trusted(): boolean {
    if (performance.now() < this.#trustedUntil) return true;
    if (this.#trustedUntil !== 0) this.#reset('the invalidation listener is behind');
    return false;
  }

  /**
   * The versions of these scopes as one tag (`p<v>.<v>`), or undefined: not trusted now, so the
   * caller serves from the database. A scope not heard of is read from the database first: a read
   * before the load it guards, so a commit after it only strands what the load stores.
   */
  async tag(scopes: readonly string[]): Promise<string | undefined> {
    if (!this.trusted()) return undefined;
    const missing = scopes.filter((scope) => !this.#known.has(scope));
    if (missing.length > 0) {
      const tenants = new Set(missing.map((scope) => scope.split(':')[0]));
      if (tenants.size !== 1) throw new Error(`cache scopes of more than one tenant: ${missing.join(', ')}`);
      const generation = this.#generation;
      let rows: Array<{ scope: string; version: number }>;
      try {
        ({ rows } = await this.options.pool.query({ name: 'strata-cache-versions', text: VERSIONS_QUERY, values: [[...tenants][0], missing] }));
      } catch (error) {
        this.#warn((error as Error).message);
        return undefined;
      }
      // A reconnect meanwhile may have lost a notification newer than this read.
      if (generation !== this.#generation || !this.trusted()) return undefined;
      const found = new Map(rows.map((row) => [row.scope, Number(row.version)]));
      for (const scope of missing) this.#learn(scope, found.get(scope) ?? 0);
    }
    const versions = scopes.map((scope) => this.#known.get(scope));
    return versions.includes(undefined) ? undefined : `p${versions.join('.')}`;
  }

  /** Long enough that every instance has learned a commit that happened before the call, or stopped trusting. */
  outlast(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.#leaseMs + 1));
  }

  /** Resolves true once the feed is current, false if it is not within the time. */
  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (!this.trusted()) {
      if (performance.now() > deadline || this.#closed) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#session += 1;
    clearTimeout(this.#reconnect);
    const feed = this.#feed;
    this.#feed = null;
    this.#known.clear();
    this.#trustedUntil = 0;
    await feed?.close();
  }

  async #start(): Promise<void> {
    if (this.#closed) return;
    const session = ++this.#session;
    let cluster: boolean;
    try {
      cluster = await this.options.cluster();
    } catch (error) {
      this.#lost(session, (error as Error).message);
      return;
    }
    if (session !== this.#session) return;
    const events: FeedEvents = {
      learn: (scope, version) => {
        if (session === this.#session) this.#learn(scope, version);
      },
      proven: (sentAt) => {
        if (session !== this.#session) return;
        this.#attempt = 0;
        this.#trustedUntil = Math.max(this.#trustedUntil, sentAt + this.#leaseMs);
      },
      lost: (reason) => this.#lost(session, reason),
    };
    const options = { url: this.options.url, heartbeatMs: this.#heartbeatMs, leaseMs: this.#leaseMs, nodeUrl: this.options.nodeUrl };
    this.#feed = (this.options.openFeed ?? openFeed)(cluster, options, events);
  }

  /** Versions only grow: a read that returns after a newer notification must not set it back. */
  #learn(scope: string, version: number): void {
    const known = this.#known.get(scope);
    if (known === undefined || known < version) this.#known.set(scope, version);
  }

  #lost(session: number, reason: string): void {
    if (this.#closed || session !== this.#session) return;
    this.#session += 1;
    this.#reset(reason);
    void this.#feed?.close();
    this.#feed = null;
    this.#attempt += 1;
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      void this.#start();
    }, reconnectDelay(this.#attempt));
    this.#reconnect.unref();
  }

  /** Commits may have been missed: forget every version learned, and every copy served under one. */
  #reset(reason: string): void {
    this.#generation += 1;
    this.#trustedUntil = 0;
    this.#known.clear();
    this.options.onReset();
    this.#warn(reason);
  }

  #warn(reason: string): void {
    const now = Date.now();
    if (now - this.#lastWarning < this.options.warnIntervalMs) return;
    this.#lastWarning = now;
    this.options.logger.warn({ reason }, 'cache: not hearing invalidations; serving from the database until the listener is current');
  }
}
