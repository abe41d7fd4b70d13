import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createCaches } from '../../src/caching/index.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  cacheConfig, eventually, freePort, keyPrefix, openCaches, privateRedis, redisReachable, redisServerInstalled, SHARED_REDIS_URL, warnings,
} from './support.js';

// RedisStore when something fails: each case answers from the database and counts the error, and
// none of them stores or serves a copy it could not check.
let database: TestDatabase;

beforeAll(async () => {
  if (!redisReachable) return;
  database = await migratedDatabase();
});

const setBio = (tenantId: number, userId: number, bio: string) =>
  withTenant(database, { tenantId }, (trx) => new UserRepository(trx).putProfile(userId, { bio }));

describe.skipIf(!redisReachable)('RedisStore when something fails', () => {
  it('serves from the database, counting an error and storing nothing, while the committed versions are not heard', async () => {
    const prefix = keyPrefix('deaf');
    const caches = createCaches({
      config: cacheConfig('redis', prefix), database, logger: warnings(), listenUrl: `postgres://root@127.0.0.1:${await freePort()}/none`,
    });
    onTestFinished(() => caches.close());
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    for (let read = 1; read <= 2; read += 1) {
      const measured = await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id));
      expect(measured.result.id).toBe(user.id);
      expect(measured.queries).toBeGreaterThan(0);
      expect(caches.metrics.layer('query')).toMatchObject({ errors: read, hits: 0, sets: 0 });
    }
    const direct = new Redis(SHARED_REDIS_URL);
    onTestFinished(() => direct.disconnect());
    expect(await direct.keys(`${prefix}:*`)).toEqual([]);
  });

  it('says at once that a Redis at a closed port is not ready', async () => {
    const caches = createCaches({
      config: cacheConfig('redis', keyPrefix('closed'), { REDIS_URL: `redis://127.0.0.1:${await freePort()}` }), database, logger: warnings(),
    });
    onTestFinished(() => caches.close());
    const started = performance.now();
    expect(await caches.ready(300)).toBe(false);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it.skipIf(!redisServerInstalled)('leaves Redis alone for retryAfterMs after a failure, counting each request it answers without it', async () => {
    const redis = await privateRedis();
    const prefix = keyPrefix('retry');
    const caches = await openCaches('redis', prefix, database, {
      config: cacheConfig('redis', prefix, { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '50' }), retryAfterMs: 60_000,
    });
    const pauser = new Redis(redis.url);
    onTestFinished(() => pauser.disconnect());
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    await pauser.client('PAUSE', 200, 'ALL');
    await caches.query.userProfile(tenant.id, user.id);
    expect(caches.metrics.layer('query').errors).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Redis answers again, but this instance does not ask it yet.
    for (let read = 2; read <= 3; read += 1) {
      expect((await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id))).queries).toBeGreaterThan(0);
      expect(caches.metrics.layer('query')).toMatchObject({ errors: read, hits: 0 });
    }
  });

  it('counts a write\'s failed commands as errors, and replays its bump once Redis accepts it', async () => {
    const prefix = keyPrefix('wrongtype');
    const caches = await openCaches('redis', prefix, database, { retryAfterMs: 0, leaseMs: 200 });
    const direct = new Redis(SHARED_REDIS_URL);
    onTestFinished(() => direct.disconnect());
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await setBio(tenant.id, user.id, 'before');
    expect((await caches.query.userProfile(tenant.id, user.id)).profile.bio).toBe('before');
    const scope = caches.keys.userScope(tenant.id, user.id);
    const bumped = await direct.get(scope);
    // A string where the write's mark (a set) goes: SADD and SREM fail with WRONGTYPE.
    await direct.set(caches.keys.intent(scope), 'not a set');
    const errors = caches.metrics.layer('query').errors;
    await caches.invalidation.userWrite(tenant.id, user.id, () => setBio(tenant.id, user.id, 'after'));
    expect(caches.metrics.layer('query').errors - errors).toBe(2);
    // The SET of the version went through, the SREM beside it did not: the whole bump is replayed.
    const written = await direct.get(scope);
    expect(written).not.toBe(bumped);
    await direct.del(caches.keys.intent(scope));
    await eventually(async () => (await direct.get(scope)) !== written, 'the bump to be replayed');
    expect((await caches.query.userProfile(tenant.id, user.id)).profile.bio).toBe('after');
  });
});
