import { LRUCache } from 'lru-cache';
import type { Target } from './keys.js';
import {
  deepFreeze, TokenSource, VersionedEntries, type CacheEntry, type CacheStore, type Probe, type WriteIntent,
} from './store.js';

/**
 * The in-process backend: one instance's own memory, so it is coherent only for a single instance
 * (run N instances with REDIS_URL). Versions and values are both here; a hit costs no I/O at all.
 */
export class MemoryStore implements CacheStore {
  readonly backend = 'memory' as const;
  readonly #versions: LRUCache<string, string>;
  readonly #entries: VersionedEntries;
  readonly #writing = new Map<string, number>();
  readonly #tokens = new TokenSource();

  constructor(options: { maxEntries: number }) {
    // An evicted version comes back as a new token, which only costs a miss: eviction is always safe.
    this.#versions = new LRUCache<string, string>({ max: options.maxEntries * 2 });
    this.#entries = new VersionedEntries(options.maxEntries);
  }

  async read({ base, scopes }: CacheEntry): Promise<Probe> {
    let version = '';
    for (const scope of scopes) {
      if (this.#writing.has(scope)) return {};
      version = version === '' ? this.#versionOf(scope) : `${version}.${this.#versionOf(scope)}`;
    }
    const value = this.#entries.get(base, version);
    return value === undefined ? { version } : { version, value };
  }

  async write({ base, ttlSeconds }: CacheEntry, version: string, value: unknown): Promise<boolean> {
    this.#entries.set(base, version, deepFreeze(value), ttlSeconds * 1000);
    return true;
  }

  async beginWrite(targets: readonly Target[]): Promise<WriteIntent> {
    for (const { scope } of targets) this.#writing.set(scope, (this.#writing.get(scope) ?? 0) + 1);
    return { id: this.#tokens.next(), targets };
  }

  async endWrite(intent: WriteIntent): Promise<void> {
    for (const target of intent.targets) {
      this.#versions.set(target.scope, this.#tokens.next());
      if (target.dropTenant !== undefined) {
        for (const scope of [...this.#versions.keys()]) if (scope.startsWith(`${target.scope}:`)) this.#versions.delete(scope);
      }
      this.#entries.evict(target.evict);
      const writers = (this.#writing.get(target.scope) ?? 1) - 1;
      if (writers > 0) this.#writing.set(target.scope, writers);
      else this.#writing.delete(target.scope);
    }
  }

  async ready(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    this.#entries.clear();
    this.#versions.clear();
  }

  /** Keys held, for tests that check a deleted tenant left nothing behind. */
  keys(): string[] {
    return [...this.#entries.keys(), ...this.#versions.keys()];
  }

  #versionOf(scope: string): string {
    let token = this.#versions.get(scope);
    if (token === undefined) {
      token = this.#tokens.next();
      this.#versions.set(scope, token);
    }
    return token;
  }
}
