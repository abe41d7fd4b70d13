import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import pg from 'pg';
import type { CacheLogger } from './redis-store.js';

/** Where migration 0019's triggers announce each scope version they bump, at commit. */
export const INVALIDATION_CHANNEL = 'strata_cache';

export interface DatabaseVersionsOptions {
  /** The LISTEN connection's server: a client of its own, never one of the pool's. */
  url: string;
  /** Versions not yet heard of are read here (the pool the reads use, so its query count shows them). */
  pool: pg.Pool;
  logger: CacheLogger;
  warnIntervalMs: number;
  maxScopes: number;
  /** How often the listener proves it is live (default 100 ms). */
  heartbeatMs?: number;
  /** How long one proof is trusted (default 1 s): a writer that could not reach Redis waits this long. */
  leaseMs?: number;
  /** Called whenever what was heard stops being trusted: near copies must go too. */
  onReset(): void;
}

const VERSIONS_QUERY = 'select scope, version from cache_version where scope = any($1::text[])';

/**
 * The scope versions in PostgreSQL, as this instance knows them: read once, then kept current by
 * the NOTIFYs migration 0019's triggers send at commit. A cached value is served only under the
 * versions known here, so a commit whose Redis bump never happened (writer cut off from Redis or
 * killed, Redis restored from a snapshot) still strands every older copy.
 *
 * What was heard is trusted only while the listener is provably current. PostgreSQL delivers
 * notifications in commit order, so hearing our own heartbeat sent at time t means every commit
 * before t has been heard: the lease runs `leaseMs` from the heartbeat's sending. While it has
 * lapsed (listener stalled, cut, reconnecting) nothing is served from the cache, and what was heard
 * is forgotten; a writer that could not bump Redis waits out one lease before answering, after
 * which every instance either has heard its commit or serves from the database.
 */
export class DatabaseVersions {
  readonly #known: LRUCache<string, number>;
  readonly #heartbeatChannel = `strata_cache_heartbeat_${randomBytes(6).toString('hex')}`;
  readonly #heartbeatMs: number;
  readonly #leaseMs: number;
  #client: pg.Client | null = null;
  #trustedUntil = 0;
  #generation = 0;
  #beatSentAt: number | null = null;
  #timer: NodeJS.Timeout | undefined;
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
    void this.#connect();
    this.#timer = setInterval(() => this.#beat(), this.#heartbeatMs);
    this.#timer.unref();
  }

  /** True while every commit up to a moment less than one lease ago has been heard. */
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
      const generation = this.#generation;
      let rows: Array<{ scope: string; version: number }>;
      try {
        ({ rows } = await this.options.pool.query({ name: 'strata-cache-versions', text: VERSIONS_QUERY, values: [missing] }));
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

  /** Long enough that every instance has heard a commit that happened before the call, or stopped trusting. */
  outlast(): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, this.#leaseMs + 1));
  }

  /** Resolves true once the listener is current, false if it is not within the time. */
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
    clearInterval(this.#timer);
    clearTimeout(this.#reconnect);
    const client = this.#client;
    this.#client = null;
    this.#known.clear();
    this.#trustedUntil = 0;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.options.url, application_name: 'strata-cache-listener', keepAlive: true });
    client.on('error', (error: Error) => this.#lost(client, error));
    client.on('end', () => this.#lost(client, new Error('the invalidation listener\'s connection ended')));
    client.on('notification', (message) => this.#onNotification(client, message));
    try {
      await client.connect();
      await client.query(`LISTEN ${INVALIDATION_CHANNEL}; LISTEN ${this.#heartbeatChannel}`);
    } catch (error) {
      this.#lost(client, error);
      return;
    }
    if (this.#closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.#client = client;
    this.#attempt = 0;
    this.#beat();
  }

  #beat(): void {
    const client = this.#client;
    if (!client) return;
    if (this.#beatSentAt !== null) {
      // A connection silent for this long is dead, not slow (a peer gone without a FIN): start afresh.
      if (performance.now() - this.#beatSentAt > this.#leaseMs * 10) this.#lost(client, new Error('the invalidation listener stopped answering'));
      return;
    }
    const sentAt = performance.now();
    this.#beatSentAt = sentAt;
    client.query('select pg_notify($1, $2)', [this.#heartbeatChannel, String(sentAt)]).then(() => {
      if (this.#beatSentAt === sentAt) this.#beatSentAt = null;
    }, () => undefined);
  }

  #onNotification(client: pg.Client, { channel, payload = '' }: pg.Notification): void {
    if (client !== this.#client) return;
    if (channel === this.#heartbeatChannel) {
      this.#trustedUntil = Math.max(this.#trustedUntil, Number(payload) + this.#leaseMs);
      return;
    }
    const [scope, version] = payload.split(' ');
    if (scope && version) this.#learn(scope, Number(version));
  }

  /** Versions only grow: a read that returns after a newer notification must not set it back. */
  #learn(scope: string, version: number): void {
    const known = this.#known.get(scope);
    if (known === undefined || known < version) this.#known.set(scope, version);
  }

  #lost(client: pg.Client, error: unknown): void {
    if (this.#closed) return;
    if (this.#client === client) this.#client = null;
    else if (this.#client !== null) return;
    this.#beatSentAt = null;
    this.#reset((error as Error)?.message ?? String(error));
    client.removeAllListeners();
    client.on('error', () => undefined);
    client.end().catch(() => undefined);
    if (this.#reconnect) return;
    this.#attempt += 1;
    this.#reconnect = setTimeout(() => {
      this.#reconnect = undefined;
      void this.#connect();
    }, Math.min(this.#attempt * 100, 2000));
    this.#reconnect.unref();
  }

  /** Notifications may have been missed: forget every version heard, and every copy served under one. */
  #reset(reason: string): void {
    this.#generation += 1;
    this.#trustedUntil = 0;
    this.#known.clear();
    this.options.onReset();
    this.#warn(reason);
  }

  #warn(reason: string): void {
    const now = performance.now();
    if (now - this.#lastWarning < this.options.warnIntervalMs) return;
    this.#lastWarning = now;
    this.options.logger.warn({ reason }, 'cache: not hearing invalidations; serving from the database until the listener is current');
  }
}
