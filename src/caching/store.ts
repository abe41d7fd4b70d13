import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Target } from './keys.js';
import type { CacheLayer } from './metrics.js';

/**
 * What a lookup found. `version` is set when the caller may store what it loads under it: it was
 * read before the load, so a write committing meanwhile bumps it and strands that copy. It is
 * unset when the backend could not answer or a write to the entry is in progress.
 */
export interface Probe {
  readonly version?: string;
  readonly value?: unknown;
}

/** One cached value: where it lives, the versions that guard it, its layer and lifetime. */
export interface CacheEntry {
  /** `prefix:tenant:id`; the store appends `:v<version>`. */
  readonly base: string;
  /** Version keys, the tenant's first: bumping any of them strands every older copy. */
  readonly scopes: readonly string[];
  readonly layer: CacheLayer;
  readonly ttlSeconds: number;
  /** Whose value this is: its lookups also count in that tenant's own tallies. */
  readonly tenantId?: number;
}

/** A write in progress: its targets are marked so that no reader caches or serves them until it ends. */
export interface WriteIntent {
  readonly id: string;
  readonly targets: readonly Target[];
}

/** A cache backend. Never throws: a failing backend answers like an empty cache. */
export interface CacheStore {
  readonly backend: 'memory' | 'redis' | 'none';
  read(entry: CacheEntry): Promise<Probe>;
  /** True when the value was stored. */
  write(entry: CacheEntry, version: string, value: unknown): Promise<boolean>;
  /** Before the write's transaction starts. */
  beginWrite(targets: readonly Target[]): Promise<WriteIntent>;
  /** After the write's transaction has committed (or rolled back): bump, then unmark. */
  endWrite(intent: WriteIntent): Promise<void>;
  /** Resolves true once the backend can serve, false if it cannot within the time. */
  ready(timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
}

/** For an app built without caches: every read misses and nothing is kept. */
export class NoStore implements CacheStore {
  readonly backend = 'none' as const;
  async read(): Promise<Probe> {
    return {};
  }
  async write(): Promise<boolean> {
    return false;
  }
  async beginWrite(targets: readonly Target[]): Promise<WriteIntent> {
    return { id: '', targets };
  }
  async endWrite(): Promise<void> {}
  async ready(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

/** Cached values are shared between callers without copying, so none of them may change one. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

/**
 * Version tokens that never repeat: a random instance part and a counter. A version key that is
 * evicted, expires or is lost with a Redis restart comes back as a new token, never as one that a
 * stale copy may still be stored under (a counter restarting at 0 would).
 */
export class TokenSource {
  readonly #prefix = randomBytes(4).toString('base64url');
  #count = 0;

  next(): string {
    this.#count += 1;
    return `${this.#prefix}${this.#count.toString(36)}`;
  }
}

interface Entry {
  version: string;
  value: unknown;
}

/**
 * An LRU of values by unversioned key, each with the version it was loaded under. One entry per key,
 * so a superseded version frees its memory at the next store, and evicting an entity is O(1).
 */
export class VersionedEntries {
  readonly #entries: LRUCache<string, Entry>;

  constructor(max: number) {
    this.#entries = new LRUCache<string, Entry>({ max });
  }

  get(base: string, version: string): unknown {
    const entry = this.#entries.get(base);
    return entry?.version === version ? entry.value : undefined;
  }

  /** The version of the copy held for base, without counting as a use. */
  versionOf(base: string): string | undefined {
    return this.#entries.peek(base)?.version;
  }

  set(base: string, version: string, value: unknown, ttlMs: number): void {
    this.#entries.set(base, { version, value }, { ttl: ttlMs });
  }

  /** Exact keys, and prefixes ending in ':' (a scan: used for tenant-wide invalidations only). */
  evict(patterns: readonly string[]): void {
    const prefixes = patterns.filter((pattern) => pattern.endsWith(':'));
    for (const pattern of patterns) if (!pattern.endsWith(':')) this.#entries.delete(pattern);
    if (prefixes.length === 0) return;
    for (const key of [...this.#entries.keys()]) {
      if (prefixes.some((prefix) => key.startsWith(prefix))) this.#entries.delete(key);
    }
  }

  clear(): void {
    this.#entries.clear();
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }
}
