import { beforeAll, describe, expect, it } from 'vitest';
import type { Caches } from '../../src/caching/index.js';
import type { RedisStore } from '../../src/caching/redis-store.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { faultyLink } from './proxy.js';
import { cacheConfig, eventually, keyPrefix, openCaches, privateRedis, redisReachable, redisServerInstalled } from './support.js';

// The copies a Redis-backed instance keeps in its own memory beside Redis: each goes as soon as this
// instance may have missed what would make it stale, and none outlives the store.
let database: TestDatabase;

beforeAll(async () => {
  if (!redisReachable) return;
  database = await migratedDatabase();
});

const nearKeys = (caches: Caches) => (caches.store as RedisStore).nearKeys();

async function profileCached(caches: Caches) {
  const tenant = await createTenant(database);
  const user = await createUser(database, tenant.id);
  await caches.query.userProfile(tenant.id, user.id);
  const base = caches.keys.value('profile', tenant.id, user.id);
  expect(nearKeys(caches)).toContain(base);
  return base;
}

describe.skipIf(!redisReachable)('near copies of a Redis-backed instance', () => {
  it('are dropped when the invalidation listener is cut, since a commit may go unheard', async () => {
    const link = await faultyLink(database.url);
    const caches = await openCaches('redis', keyPrefix('near-reset'), database, { listenUrl: link.url, leaseMs: 300 });
    await profileCached(caches);
    link.cut();
    await eventually(() => nearKeys(caches).length === 0, 'the near copies to be dropped');
  });

  it.skipIf(!redisServerInstalled)('are dropped when the subscriber reconnects, since invalidation messages sent meanwhile are lost', async () => {
    const redis = await privateRedis();
    const prefix = keyPrefix('near-resubscribe');
    const caches = await openCaches('redis', prefix, database, { config: cacheConfig('redis', prefix, { REDIS_URL: redis.url }) });
    await profileCached(caches);
    await redis.stop();
    await redis.start();
    expect(await caches.ready(5000)).toBe(true);
    expect(nearKeys(caches)).toEqual([]);
  });

  it('are all dropped when the store closes', async () => {
    const caches = await openCaches('redis', keyPrefix('near-close'), database);
    await profileCached(caches);
    await caches.close();
    expect(nearKeys(caches)).toEqual([]);
  });

  it('are none at all when the near cache is turned off', async () => {
    const caches = await openCaches('redis', keyPrefix('near-off'), database, { nearCacheMax: 0 });
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    expect((await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id))).queries).toBe(0);
    await caches.invalidation.userWrite(tenant.id, user.id, () =>
      withTenant(database, { tenantId: tenant.id }, (trx) => new UserRepository(trx).putProfile(user.id, { bio: 'written' })));
    expect((await caches.query.userProfile(tenant.id, user.id)).profile.bio).toBe('written');
    expect(nearKeys(caches)).toEqual([]);
  });
});
