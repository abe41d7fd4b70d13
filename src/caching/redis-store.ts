import { Redis, type RedisOptions, type Result } from 'ioredis';
import type { DatabaseVersions } from './database-versions.js';
import type { CacheKeys, Target } from './keys.js';
import type { CacheLayer, CacheMetrics } from './metrics.js';
import {
  deepFreeze, TokenSource, VersionedEntries, type CacheEntry, type CacheStore, type Probe, type WriteIntent,
} from './store.js';

export interface CacheLogger {
  warn(details: object, message: string): void;
}

export interface RedisStoreOptions {
  url: string;
  keys: CacheKeys;
  metrics: CacheMetrics;
  logger: CacheLogger;
  /** Bound on each command; a slower Redis is treated as down. */
  timeoutMs: number;
  warnIntervalMs: number;
  /** Values kept in this process, checked against the version in Redis on every read; 0 turns it off. */
  nearCacheMax: number;
  /** Version keys expire after this long untouched; an expired version only costs a miss. */
  versionTtlSeconds: number;
  /** After a failure, Redis is left alone this long, so a slow Redis does not slow every request. */
  retryAfterMs?: number;
  /** The versions committed in PostgreSQL: no copy is served under any other. */
  versions: DatabaseVersions;
}

// Longer than any write transaction: a process that dies mid-write leaves its mark for this long.
const INTENT_TTL_MS = 60_000;
// A bump lost to an outage must land soon even if this instance reads nothing more: until it does,
// other instances keep serving the old value (or accepting a key revoked here).
const REPLAY_INTERVAL_MS = 250;

/**
 * A read's whole lookup in one round trip, atomically: refuses while any scope is being written,
 * reads the scopes' versions, creates a missing one (new, expired, or lost in a restart) from the
 * fresh tokens given, and fetches the value stored under the combined version unless the near
 * copy already holds that version. A version is created before the load, never after it, so a
 * bump that lands meanwhile still strands what the load saw.
 *
 * KEYS: the n version keys, then their n write marks. ARGV: the value's base key, the version TTL,
 * the near copy's version ('' for none), the database versions' tag (part of every version), then
 * n fresh tokens. The value key is derived, not passed in KEYS: this needs a single Redis, not a
 * cluster.
 * Returns {1} while writing, else {0, version[, value]}.
 */
const PROBE_SCRIPT = `
local n = #KEYS / 2
for i = n + 1, 2 * n do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {1} end
end
local tokens = {}
for i = 1, n do
  local token = redis.call('GET', KEYS[i])
  if not token then
    token = ARGV[4 + i]
    redis.call('SET', KEYS[i], token, 'EX', ARGV[2])
  end
  tokens[i] = token
end
local version = table.concat(tokens, '.') .. ':' .. ARGV[4]
if version == ARGV[3] then return {0, version} end
return {0, version, redis.call('GET', ARGV[1] .. ':v' .. version)}
`;

declare module 'ioredis' {
  interface RedisCommander<Context> {
    strataProbe(numberOfKeys: number, ...keysAndArguments: Array<string | number>): Result<[1] | [0, string, (string | null)?], Context>;
  }
}

interface Invalidation {
  origin: string;
  evict: string[];
}

/** How long to wait before reconnecting, by attempt since the last success: 100 ms more each time, at most 2 s. */
export function reconnectDelay(attempt: number): number {
  return Math.min(attempt * 100, 2000);
}

/** The options of the store's two clients: one for commands, one subscribed to the invalidations. */
export function redisClientOptions(timeoutMs: number): { command: RedisOptions; subscriber: RedisOptions } {
  const common: RedisOptions = {
    connectTimeout: Math.max(timeoutMs * 10, 1000),
    retryStrategy: reconnectDelay,
    disableClientInfo: true,
  };
  return {
    // No offline queue: while disconnected a command fails at once instead of waiting for the timeout.
    command: { ...common, commandTimeout: timeoutMs, enableOfflineQueue: false, maxRetriesPerRequest: 0 },
    // ioredis resubscribes after a reconnect without handling the command's failure: a link cut again
    // meanwhile rejected it unhandled ("Connection is closed"), which ends a Node process. So the
    // store subscribes on every ready itself, with its failure handled.
    subscriber: { ...common, autoResubscribe: false },
  };
}

/**
 * Redis holds the versions and the values, so every instance reads the same versions: a write
 * bumped through one instance is seen by the very next read on any other, without waiting for a
 * message. Pub/sub only tells the other instances to drop their near copies at once (a deleted
 * tenant's data leaves every process's memory), which is hygiene, not what keeps reads fresh:
 * pub/sub delivers at most once, and a copy it misses can no longer match the version anyway.
 *
 * Redis alone cannot be the authority: a writer cut off from it, or killed, never bumps; a Redis
 * restored from a snapshot brings old versions back. So every version also carries the scopes'
 * versions in PostgreSQL, bumped by the write's own transaction and heard over LISTEN (see
 * DatabaseVersions): a copy is served only under the versions committed, and only while this
 * instance is provably hearing them. A writer whose bump failed waits one lease before answering.
 *
 * Degrade, don't fail: any error or timeout answers like an empty cache, counts an error, logs a
 * warning at most once per interval and leaves Redis alone for a moment; ioredis reconnects by
 * itself. A version bump that failed is kept and replayed before this instance reads again.
 */
export class RedisStore implements CacheStore {
  readonly backend = 'redis' as const;
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #subscribed: Promise<boolean>;
  readonly #near: VersionedEntries | null;
  readonly #tokens = new TokenSource();
  readonly #origin = this.#tokens.next();
  readonly #pending: WriteIntent[] = [];
  #flushing: Promise<void> | null = null;
  #retryAt = 0;
  #replayTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #lastWarning = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RedisStoreOptions) {
    const clients = redisClientOptions(options.timeoutMs);
    this.#redis = new Redis(options.url, clients.command);
    this.#subscriber = new Redis(options.url, clients.subscriber);
    this.#redis.defineCommand('strataProbe', { lua: PROBE_SCRIPT });
    for (const client of [this.#redis, this.#subscriber]) client.on('error', (error: Error) => this.#warn(error));
    this.#near = options.nearCacheMax > 0 ? new VersionedEntries(options.nearCacheMax) : null;
    this.#subscriber.on('message', (_channel: string, message: string) => this.#onInvalidation(message));
    let subscribed!: (ok: boolean) => void;
    this.#subscribed = new Promise((resolve) => {
      subscribed = resolve;
    });
    // Messages sent while the subscriber was away are lost: start the near cache afresh.
    this.#subscriber.on('ready', () => {
      this.#near?.clear();
      this.#subscriber.subscribe(options.keys.channel).then(() => subscribed(true), (error: Error) => {
        this.#warn(error);
        subscribed(false);
      });
    });
  }

  async read({ base, scopes, layer, ttlSeconds }: CacheEntry): Promise<Probe> {
    const committed = await this.options.versions.tag(scopes.map((scope) => this.options.keys.databaseScope(scope)));
    if (committed === undefined) {
      this.options.metrics.count(layer, 'errors');
      return {};
    }
    if (!(await this.#available(layer))) return {};
    try {
      const marks = scopes.map((scope) => this.options.keys.intent(scope));
      const fresh = scopes.map(() => this.#tokens.next());
      const nearVersion = this.#near?.versionOf(base) ?? '';
      const probe = await this.#redis.strataProbe(scopes.length * 2, ...scopes, ...marks,
        base, this.options.versionTtlSeconds, nearVersion, committed, ...fresh);
      if (probe[0] === 1) return {};
      const [, version, raw] = probe;
      if (version === nearVersion) return { version, value: this.#near!.get(base, version) };
      if (raw === null || raw === undefined) return { version };
      const value = deepFreeze(JSON.parse(raw) as unknown);
      this.#near?.set(base, version, value, ttlSeconds * 1000);
      return { version, value };
    } catch (error) {
      this.#failed(error, [layer]);
      return {};
    }
  }

  async write({ base, layer, ttlSeconds }: CacheEntry, version: string, value: unknown): Promise<boolean> {
    if (!(await this.#available(layer))) return false;
    // The near copy first: this instance's next read finds it while the SET is still on its way.
    this.#near?.set(base, version, deepFreeze(value), ttlSeconds * 1000);
    try {
      await this.#redis.set(`${base}:v${version}`, JSON.stringify(value), 'EX', ttlSeconds);
      return true;
    } catch (error) {
      this.#failed(error, [layer]);
      return false;
    }
  }

  async beginWrite(targets: readonly Target[]): Promise<WriteIntent> {
    const intent = { id: this.#tokens.next(), targets };
    const layers = targets.flatMap((target) => target.layers);
    // Degraded: the write goes ahead unmarked, and its bump is replayed before this instance reads again.
    if (!(await this.#available(layers[0]!))) return intent;
    try {
      const pipeline = this.#redis.pipeline();
      for (const { scope } of targets) {
        const key = this.options.keys.intent(scope);
        pipeline.sadd(key, intent.id).pexpire(key, INTENT_TTL_MS);
      }
      await this.#exec(pipeline);
    } catch (error) {
      this.#failed(error, layers);
    }
    return intent;
  }

  async endWrite(intent: WriteIntent): Promise<void> {
    this.#near?.evict(intent.targets.flatMap((target) => target.evict));
    const layers = intent.targets.flatMap((target) => target.layers);
    if (!(await this.#available(layers[0]!))) {
      this.#pending.push(intent);
      this.#scheduleReplay();
      await this.options.versions.outlast();
      return;
    }
    try {
      await this.#finish(intent);
    } catch (error) {
      this.#pending.push(intent);
      this.#failed(error, layers);
      this.#scheduleReplay();
      // Other instances still find the old Redis version: the answer waits until they have heard the commit.
      await this.options.versions.outlast();
    }
  }

  #scheduleReplay(): void {
    if (this.#replayTimer) return;
    this.#replayTimer = setTimeout(() => {
      this.#replayTimer = undefined;
      // No request is waiting here, so a failed attempt counts no layer's error: the metric counts
      // operations answered from the database, and an idle instance answers none.
      const replay = this.#redis.status === 'ready' && Date.now() >= this.#retryAt
        ? this.#replayPending().catch((error: unknown) => this.#failed(error, []))
        : Promise.resolve();
      void replay.then(() => {
        if (this.#pending.length > 0 && !this.#closed) this.#scheduleReplay();
      });
    }, REPLAY_INTERVAL_MS);
    this.#replayTimer.unref();
  }

  async ready(timeoutMs = 2000): Promise<boolean> {
    const connected = (client: Redis) => client.status === 'ready' || new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      client.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    const [command, subscriber, listener] = await Promise.all([connected(this.#redis), connected(this.#subscriber), this.options.versions.ready(timeoutMs)]);
    return command && subscriber && listener && await this.#subscribed;
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#replayTimer);
    this.#redis.disconnect();
    this.#subscriber.disconnect();
    this.#near?.clear();
    await this.options.versions.close();
  }

  dropNearCopies(): void {
    this.#near?.clear();
  }

  /** Near-cache keys held, for tests that check what pub/sub dropped. */
  nearKeys(): string[] {
    return this.#near?.keys() ?? [];
  }

  async #available(layer: CacheLayer): Promise<boolean> {
    if (Date.now() < this.#retryAt) {
      this.options.metrics.count(layer, 'errors');
      return false;
    }
    if (this.#redis.status !== 'ready') {
      this.#failed(new Error(`Redis connection is ${this.#redis.status}`), [layer]);
      return false;
    }
    try {
      if (this.#pending.length > 0) await this.#replayPending();
      return true;
    } catch (error) {
      this.#failed(error, [layer]);
      return false;
    }
  }

  /**
   * Replayed before any read: a bump lost while Redis was away would otherwise let this instance find
   * the old value under the old version. One replay at a time, shared by concurrent callers.
   */
  #replayPending(): Promise<void> {
    this.#flushing ??= (async () => {
      try {
        while (this.#pending.length > 0) {
          await this.#finish(this.#pending[0]!);
          this.#pending.shift();
        }
      } finally {
        this.#flushing = null;
      }
    })();
    return this.#flushing;
  }

  /** Bumps each target's version, then lifts the write's mark, then tells the other instances. */
  async #finish(intent: WriteIntent): Promise<void> {
    const pipeline = this.#redis.pipeline();
    for (const { scope } of intent.targets) {
      pipeline.set(scope, this.#tokens.next(), 'EX', this.options.versionTtlSeconds).srem(this.options.keys.intent(scope), intent.id);
    }
    await this.#exec(pipeline);
    for (const target of intent.targets) {
      if (target.dropTenant !== undefined) await this.#deleteTenantKeys(target.dropTenant);
    }
    const message: Invalidation = { origin: this.#origin, evict: intent.targets.flatMap((target) => target.evict) };
    await this.#redis.publish(this.options.keys.channel, JSON.stringify(message));
  }

  async #deleteTenantKeys(tenantId: number): Promise<void> {
    for (const match of this.options.keys.tenantPatterns(tenantId)) {
      for await (const batch of this.#redis.scanStream({ match, count: 1000 }) as AsyncIterable<string[]>) {
        if (batch.length > 0) await this.#redis.unlink(...batch);
      }
    }
  }

  async #exec(pipeline: ReturnType<Redis['pipeline']>): Promise<unknown[]> {
    const results = (await pipeline.exec())!;
    const failed = results.find(([error]) => error);
    if (failed) throw failed[0]!;
    return results.map(([, result]) => result);
  }

  #onInvalidation(message: string): void {
    try {
      const invalidation = JSON.parse(message) as Invalidation;
      if (invalidation.origin !== this.#origin) this.#near?.evict(invalidation.evict);
    } catch (error) {
      this.#warn(error);
    }
  }

  #failed(error: unknown, layers: readonly CacheLayer[]): void {
    for (const layer of new Set(layers)) this.options.metrics.count(layer, 'errors');
    this.#retryAt = Date.now() + (this.options.retryAfterMs ?? 1000);
    this.#warn(error);
  }

  #warn(error: unknown): void {
    const now = Date.now();
    if (now - this.#lastWarning < this.options.warnIntervalMs) return;
    this.#lastWarning = now;
    this.options.logger.warn({ err: (error as Error)?.message ?? String(error) },
      'cache: Redis is unavailable or slow; serving from the database until it answers again');
  }
}
