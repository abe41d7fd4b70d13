import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createCaches, disabledCaches, type Caches } from '../../src/caching/index.js';
import { MemoryStore } from '../../src/caching/memory-store.js';
import type { RedisStore } from '../../src/caching/redis-store.js';
import { analyticsDataVersion } from '../../src/caching/query-cache.js';
import type { CacheEntry } from '../../src/caching/store.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { faultyLink } from './proxy.js';
import { cacheConfig, eventually, keyPrefix, openCaches, redisReachable, SHARED_REDIS_URL, warnings } from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

/** The entries the caches look up while fn runs. */
async function lookups(caches: Caches, fn: () => Promise<unknown>): Promise<CacheEntry[]> {
  const read = vi.spyOn(caches.store, 'read');
  try {
    await fn();
    return read.mock.calls.map(([entry]) => entry);
  } finally {
    read.mockRestore();
  }
}

describe('createCaches from the configuration', () => {
  it('opens the in-process cache without REDIS_URL, with the configured namespace and lifetime', async () => {
    const prefix = keyPrefix('assembly');
    const caches = await openCaches('memory', prefix, database, { config: cacheConfig('memory', prefix, { CACHE_TTL_SECONDS: '30' }) });
    expect(caches.backend).toBe('memory');
    expect(caches.store).toBeInstanceOf(MemoryStore);
    expect(caches.metrics.backend).toBe('memory');
    expect(caches.keys.namespace).toBe(prefix);
    expect(caches.invalidation.keys).toBe(caches.keys);
    // Under a minute, sessions live as long as everything else.
    expect([caches.ttlSeconds, caches.query.ttlSeconds, caches.session.ttlSeconds]).toEqual([30, 30, 30]);
    expect(await caches.ready()).toBe(true);
  });

  it('caps sessions at a minute whatever CACHE_TTL_SECONDS is', async () => {
    const prefix = keyPrefix('assembly-cap');
    const caches = await openCaches('memory', prefix, database, { config: cacheConfig('memory', prefix, { CACHE_TTL_SECONDS: '61' }) });
    expect([caches.ttlSeconds, caches.query.ttlSeconds, caches.session.ttlSeconds]).toEqual([61, 61, 60]);
  });

  it('keeps CACHE_MAX_ENTRIES values in memory, passes the read hooks on, and keeps nothing once closed', async () => {
    const prefix = keyPrefix('assembly-max');
    const seen: string[] = [];
    const caches = createCaches({
      config: cacheConfig('memory', prefix, { CACHE_MAX_ENTRIES: '2' }),
      database,
      hooks: { afterVersionRead: (entry) => { seen.push(entry.base); } },
    });
    const tenant = await createTenant(database);
    const users = [await createUser(database, tenant.id), await createUser(database, tenant.id), await createUser(database, tenant.id)];
    for (const user of users) await caches.query.userProfile(tenant.id, user.id);
    expect(seen).toEqual(users.map((user) => caches.keys.value('profile', tenant.id, user.id)));
    const values = () => (caches.store as MemoryStore).keys().filter((key) => key.startsWith(`${prefix}:profile:`));
    expect(values().sort()).toEqual(users.slice(1).map((user) => caches.keys.value('profile', tenant.id, user.id)).sort());
    await caches.close();
    expect((caches.store as MemoryStore).keys()).toEqual([]);
  });

  it.runIf(redisReachable)('opens Redis when REDIS_URL is set, keeping CACHE_MAX_ENTRIES near copies beside it', async () => {
    const prefix = keyPrefix('assembly-redis');
    const config = cacheConfig('redis', prefix, { CACHE_TTL_SECONDS: '45', CACHE_MAX_ENTRIES: '2' });
    const caches = await openCaches('redis', prefix, database, { config, logger: warnings() });
    expect(caches.backend).toBe('redis');
    expect(caches.metrics.backend).toBe('redis');
    expect(caches.keys.namespace).toBe(prefix);
    expect([caches.ttlSeconds, caches.query.ttlSeconds, caches.session.ttlSeconds]).toEqual([45, 45, 45]);
    const tenant = await createTenant(database);
    const users = [await createUser(database, tenant.id), await createUser(database, tenant.id), await createUser(database, tenant.id)];
    for (const user of users) await caches.query.userProfile(tenant.id, user.id);
    expect((caches.store as RedisStore).nearKeys().sort())
      .toEqual(users.slice(1).map((user) => caches.keys.value('profile', tenant.id, user.id)).sort());
  });

  it.runIf(redisReachable)('warns about Redis at most once per CACHE_WARN_INTERVAL_SECONDS', async () => {
    const prefix = keyPrefix('assembly-warn');
    const logger = warnings();
    const caches = await openCaches('redis', prefix, database, { config: cacheConfig('redis', prefix, { CACHE_WARN_INTERVAL_SECONDS: '30' }), logger });
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    const base = caches.keys.value('profile', tenant.id, user.id);
    expect((caches.store as RedisStore).nearKeys()).toContain(base);
    const publisher = new Redis(SHARED_REDIS_URL);
    try {
      await publisher.publish(caches.keys.channel, 'not json');
      await eventually(() => logger.messages.length === 1, 'the first warning');
      await publisher.publish(caches.keys.channel, 'not json either');
      // Messages are handled in order: once this one has evicted the near copy, the second was seen.
      await publisher.publish(caches.keys.channel, JSON.stringify({ origin: 'another instance', evict: [base] }));
      await eventually(() => !(caches.store as RedisStore).nearKeys().includes(base), 'the near copy to be evicted');
    } finally {
      publisher.disconnect();
    }
    expect(logger.messages).toHaveLength(1);
  });

  it.runIf(redisReachable)('warns at most once per CACHE_WARN_INTERVAL_SECONDS that invalidations are not heard', async () => {
    const prefix = keyPrefix('assembly-deaf');
    const logger = warnings();
    const link = await faultyLink(database.url);
    const caches = await openCaches('redis', prefix, database, {
      config: cacheConfig('redis', prefix, { CACHE_WARN_INTERVAL_SECONDS: '30' }), logger, listenUrl: link.url, leaseMs: 300,
    });
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const base = caches.keys.value('profile', tenant.id, user.id);
    const nearKeys = () => (caches.store as RedisStore).nearKeys();
    // Each time the listener is lost, the near copies go: that is how the test knows it was noticed.
    for (let cut = 1; cut <= 2; cut += 1) {
      await caches.query.userProfile(tenant.id, user.id);
      expect(nearKeys()).toContain(base);
      link.cut();
      await eventually(() => nearKeys().length === 0, 'the listener\'s loss to be noticed');
      link.heal();
      expect(await caches.ready(5000)).toBe(true);
    }
    expect(logger.messages.filter((message) => message.includes('not hearing invalidations'))).toHaveLength(1);
  });

  it('builds an app without caches on the same interfaces: nothing kept, the default namespace and lifetimes', async () => {
    const caches = disabledCaches(database);
    expect(caches.backend).toBe('none');
    expect(caches.store.backend).toBe('none');
    expect(caches.metrics.backend).toBe('none');
    expect(caches.keys.namespace).toBe('strata');
    expect([caches.ttlSeconds, caches.query.ttlSeconds, caches.session.ttlSeconds]).toEqual([300, 300, 60]);
    expect(await caches.ready()).toBe(true);
    await caches.close();
  });
});

describe('QueryCache entries', () => {
  let caches: Caches;

  beforeAll(async () => {
    const prefix = keyPrefix('query-entries');
    caches = await openCaches('memory', prefix, database, { config: cacheConfig('memory', prefix, { CACHE_TTL_SECONDS: '40' }) });
  });

  it('looks a profile up under the tenant\'s and the user\'s versions, in the query layer, for the tenant', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const { keys } = caches;
    expect(await lookups(caches, () => caches.query.userProfile(tenant.id, user.id))).toEqual([{
      base: keys.value('profile', tenant.id, user.id),
      scopes: [keys.tenantScope(tenant.id), keys.userScope(tenant.id, user.id)],
      layer: 'query',
      ttlSeconds: 40,
      tenantId: tenant.id,
    }]);
  });

  it('looks a summary up by a digest of its name and parameters and the newest ETL run, under the tenant\'s analytics versions', async () => {
    const tenant = await createTenant(database);
    const { id: run } = await database.admin.insertInto('etl_run').values({ pipeline: 'test' }).returning('id').executeTakeFirstOrThrow();
    expect(await analyticsDataVersion(database)).toBe(Number(run));
    const digest = createHash('sha256').update('weekly\n{"from":"2024-01-01"}').digest('base64url').slice(0, 22);
    const { keys } = caches;
    expect(await lookups(caches, () => caches.query.analyticsSummary(tenant.id, 'weekly', { from: '2024-01-01' }, async () => 1))).toEqual([{
      base: keys.value('analytics', tenant.id, `${digest}.r${run}`),
      scopes: [keys.tenantScope(tenant.id), keys.analyticsScope(tenant.id)],
      layer: 'query',
      ttlSeconds: 40,
      tenantId: tenant.id,
    }]);
  });

  it('keeps the name apart from the parameters: \'x1\' with 2 is not \'x\' with 12', async () => {
    const tenant = await createTenant(database);
    let loads = 0;
    const load = async () => ++loads;
    expect(await caches.query.analyticsSummary(tenant.id, 'x1', 2, load)).toBe(1);
    expect(await caches.query.analyticsSummary(tenant.id, 'x', 12, load)).toBe(2);
    expect(await caches.query.analyticsSummary(tenant.id, 'x1', 2, load)).toBe(1);
  });

  it('without caches, loads a summary every time and asks the database for no data version', async () => {
    const disabled = disabledCaches(database);
    const tenant = await createTenant(database);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { result, queries } = await database.queries.measure(() =>
        disabled.query.analyticsSummary(tenant.id, 'weekly', {}, async () => ({ at: new Date(0) })));
      expect(result).toEqual({ at: '1970-01-01T00:00:00.000Z' });
      expect(queries).toBe(0);
    }
  });
});
