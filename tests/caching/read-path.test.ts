import { createHash } from 'node:crypto';
import { setImmediate as settled } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Invalidation } from '../../src/caching/invalidation.js';
import { CacheKeys, type Target } from '../../src/caching/keys.js';
import { MemoryStore } from '../../src/caching/memory-store.js';
import { CacheMetrics } from '../../src/caching/metrics.js';
import { readThrough, type CacheContext, type ReadThroughHooks } from '../../src/caching/read-through.js';
import { SessionCache } from '../../src/caching/session-cache.js';
import type { CacheEntry, CacheStore, Probe, WriteIntent } from '../../src/caching/store.js';

const keys = new CacheKeys('ns');

/** A store that answers what it is told to and records what it is asked. */
class ScriptedStore implements CacheStore {
  readonly backend = 'memory' as const;
  readonly events: string[] = [];
  readonly reads: CacheEntry[] = [];
  readonly writes: Array<{ entry: CacheEntry; version: string; value: unknown }> = [];
  readonly begun: Array<readonly Target[]> = [];
  readonly ended: WriteIntent[] = [];

  constructor(private readonly probe: Probe, private readonly stores = true) {}

  async read(entry: CacheEntry): Promise<Probe> {
    this.reads.push(entry);
    this.events.push('read');
    return this.probe;
  }
  async write(entry: CacheEntry, version: string, value: unknown): Promise<boolean> {
    this.writes.push({ entry, version, value });
    this.events.push('write');
    return this.stores;
  }
  async beginWrite(targets: readonly Target[]): Promise<WriteIntent> {
    this.begun.push(targets);
    this.events.push('begin');
    return { id: `intent-${this.begun.length}`, targets };
  }
  async endWrite(intent: WriteIntent): Promise<void> {
    this.ended.push(intent);
    this.events.push('end');
  }
  async ready(): Promise<boolean> {
    return true;
  }
  async close(): Promise<void> {}
}

function contextOf(store: CacheStore, hooks: ReadThroughHooks = {}): CacheContext {
  return { store, metrics: new CacheMetrics(store.backend), hooks };
}

const entry: CacheEntry = { base: 'ns:profile:7:1', scopes: ['ns:version:7', 'ns:version:7:user:1'], layer: 'query', ttlSeconds: 60, tenantId: 7 };
const counts = (context: CacheContext, tenantId = 7) => {
  const { hits, misses, sets } = context.metrics.layer('query');
  const own = context.metrics.tenantSnapshot(tenantId)[1]!;
  return { hits, misses, sets, tenant: { hits: own.hits, misses: own.misses, sets: own.sets } };
};

describe('readThrough', () => {
  it('answers a cached value without loading, and counts a hit for the layer and the tenant', async () => {
    const store = new ScriptedStore({ version: 'v', value: { cached: true } });
    const context = contextOf(store);
    const loaded = await readThrough(context, entry, () => Promise.reject(new Error('must not load')));
    expect(loaded).toEqual({ cached: true });
    expect(store.reads).toEqual([entry]);
    expect(counts(context)).toEqual({ hits: 1, misses: 0, sets: 0, tenant: { hits: 1, misses: 0, sets: 0 } });
  });

  it('on a miss loads, hands back the value frozen and stores it under the version read before the load', async () => {
    const events: string[] = [];
    const store = new ScriptedStore({ version: 'v-before' });
    const hooks: ReadThroughHooks = {
      afterVersionRead: (seen) => { events.push(`after-version:${seen.base}`); },
      beforeStore: (seen) => { events.push(`before-store:${seen.base}`); },
    };
    const context = contextOf(store, hooks);
    const value = await readThrough(context, entry, async () => {
      events.push('load');
      return { profile: { bio: 'x' } };
    });
    await settled();
    expect(value).toEqual({ profile: { bio: 'x' } });
    expect(Object.isFrozen(value.profile)).toBe(true);
    expect(events).toEqual(['after-version:ns:profile:7:1', 'load', 'before-store:ns:profile:7:1']);
    expect(store.writes).toEqual([{ entry, version: 'v-before', value }]);
    expect(counts(context)).toEqual({ hits: 0, misses: 1, sets: 1, tenant: { hits: 0, misses: 1, sets: 1 } });
  });

  it('stores a falsy value that is not null or undefined', async () => {
    const store = new ScriptedStore({ version: 'v' });
    const context = contextOf(store);
    expect(await readThrough(context, entry, async () => 0)).toBe(0);
    expect(await readThrough(context, entry, async () => '')).toBe('');
    expect(store.writes.map((write) => write.value)).toEqual([0, '']);
  });

  it('never stores null or undefined (not found, refused)', async () => {
    const store = new ScriptedStore({ version: 'v' });
    const context = contextOf(store, { beforeStore: () => { throw new Error('nothing to store'); } });
    expect(await readThrough(context, entry, async () => null)).toBeNull();
    expect(await readThrough(context, entry, async () => undefined)).toBeUndefined();
    await settled();
    expect(store.writes).toEqual([]);
    expect(counts(context)).toMatchObject({ misses: 2, sets: 0 });
  });

  it('stores nothing when no version was read (a write in progress, or a backend that cannot answer)', async () => {
    const store = new ScriptedStore({});
    const context = contextOf(store, { beforeStore: () => { throw new Error('nothing to store'); } });
    expect(await readThrough(context, entry, async () => 'loaded')).toBe('loaded');
    await settled();
    expect(store.writes).toEqual([]);
    expect(counts(context)).toMatchObject({ misses: 1, sets: 0 });
  });

  it('counts a set only when the store kept the value, and an entry without a tenant in no tenant\'s tally', async () => {
    const refusing = new ScriptedStore({ version: 'v' }, false);
    const context = contextOf(refusing);
    await readThrough(context, entry, async () => 'loaded');
    await settled();
    expect(refusing.writes).toHaveLength(1);
    expect(counts(context).sets).toBe(0);
    const { tenantId: _tenant, ...shared } = entry;
    const keeping = contextOf(new ScriptedStore({ version: 'v' }));
    await readThrough(keeping, shared, async () => 'loaded');
    await settled();
    expect(counts(keeping)).toEqual({ hits: 0, misses: 1, sets: 1, tenant: { hits: 0, misses: 0, sets: 0 } });
  });
});

describe('SessionCache', () => {
  const digest = (key: string) => createHash('sha256').update(key).digest('base64url');

  function sessions() {
    const store = new MemoryStore({ maxEntries: 100 });
    const context = contextOf(store);
    const cache = new SessionCache(context, keys, 45);
    const loads: string[] = [];
    const resolve = cache.wrap(async (key) => {
      loads.push(key);
      return key.endsWith('_unknown') ? null : { key };
    });
    /** How many times two lookups of the key load it from the database. */
    const loadsOf = async (key: string) => {
      const before = loads.length;
      await resolve(key);
      await settled();
      await resolve(key);
      return loads.length - before;
    };
    return { store, context, cache, resolve, loadsOf };
  }

  it('caches a tenant key\'s principal under its hash, guarded by the tenant\'s and its sessions\' versions', async () => {
    const store = new ScriptedStore({ version: 'v' });
    const context = contextOf(store);
    const resolve = new SessionCache(context, keys, 45).wrap(async (key) => ({ key }));
    const key = 'strata_1234_secret';
    expect(await resolve(key)).toEqual({ key });
    expect(store.reads).toEqual([{
      base: `ns:session:1234:${digest(key)}`, scopes: ['ns:version:1234', 'ns:version:1234:sessions'], layer: 'session', ttlSeconds: 45, tenantId: 1234,
    }]);
    expect(context.metrics.tenantSnapshot(1234)[0]).toMatchObject({ layer: 'session', misses: 1 });
  });

  it('caches keys naming a tenant id of one to sixteen digits, without a leading zero', async () => {
    const { loadsOf } = sessions();
    for (const key of ['strata_7_secret', 'strata_10_secret', 'strata_1234567890123456_secret', 'strata_9_a_b']) {
      expect(await loadsOf(key), key).toBe(1);
    }
  });

  it('checks every other key against the database each time', async () => {
    const { loadsOf, store } = sessions();
    const others = [
      'strata_admin_secret', 'strata_0_secret', 'strata_07_secret', 'strata_12345678901234567_secret', 'strata_7secret',
      'strata__secret', 'xstrata_7_secret', 'Strata_7_secret', 'strata_x7_secret', 'strata_7',
    ];
    for (const key of others) expect(await loadsOf(key), key).toBe(2);
    expect(store.keys()).toEqual([]);
  });

  it('keeps sessions per key and per tenant, and never a refused key', async () => {
    const { loadsOf, resolve, store } = sessions();
    expect(await resolve('strata_7_one')).toEqual({ key: 'strata_7_one' });
    await settled();
    expect(await resolve('strata_7_two')).toEqual({ key: 'strata_7_two' });
    expect(await resolve('strata_8_one')).toEqual({ key: 'strata_8_one' });
    expect(await loadsOf('strata_7_unknown')).toBe(2);
    await settled();
    expect(store.keys().filter((key) => key.startsWith('ns:session:')).sort())
      .toEqual([`ns:session:7:${digest('strata_7_one')}`, `ns:session:7:${digest('strata_7_two')}`, `ns:session:8:${digest('strata_8_one')}`].sort());
  });
});

describe('Invalidation', () => {
  function opened() {
    const store = new ScriptedStore({});
    const context = contextOf(store);
    return { store, context, invalidation: new Invalidation(context, keys) };
  }
  const invalidations = (context: CacheContext) => Object.fromEntries(context.metrics.snapshot().map((layer) => [layer.layer, layer.invalidations]));

  it('marks the targets before the write runs and bumps them after it has settled, counting one invalidation per layer', async () => {
    const { store, context, invalidation } = opened();
    const result = await invalidation.around([keys.analytics(7)], async () => {
      store.events.push('write');
      return 'done';
    });
    expect(result).toBe('done');
    expect(store.events).toEqual(['begin', 'write', 'end']);
    expect(store.ended).toEqual([{ id: 'intent-1', targets: [keys.analytics(7)] }]);
    expect(invalidations(context)).toEqual({ session: 0, query: 1, response: 1, etag: 0 });
  });

  it('ends and counts a write that fails, and passes its error on', async () => {
    const { store, context, invalidation } = opened();
    await expect(invalidation.around([keys.user(7, 1)], () => Promise.reject(new Error('rolled back')))).rejects.toThrow('rolled back');
    expect(store.events).toEqual(['begin', 'end']);
    expect(invalidations(context)).toEqual({ session: 0, query: 1, response: 0, etag: 0 });
  });

  it('names each kind of write\'s targets', async () => {
    const { store, context, invalidation } = opened();
    const write = async () => 'ok';
    expect(await invalidation.userWrite(7, 1, write)).toBe('ok');
    expect(await invalidation.userDelete(7, 2, write)).toBe('ok');
    expect(await invalidation.apiKeyWrite(7, write)).toBe('ok');
    expect(await invalidation.analyticsWrite([7, 8], write)).toBe('ok');
    expect(await invalidation.tenantDelete(9, write)).toBe('ok');
    expect(store.begun).toEqual([
      [keys.user(7, 1)],
      [keys.user(7, 2), keys.analytics(7)],
      [keys.sessions(7)],
      [keys.analytics(7), keys.analytics(8)],
      [keys.tenant(9)],
    ]);
    expect(store.ended.map((intent) => intent.targets)).toEqual(store.begun);
    expect(invalidations(context)).toEqual({ session: 2, query: 6, response: 4, etag: 0 });
    expect(invalidation.keys).toBe(keys);
  });
});
