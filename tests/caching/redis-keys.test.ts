import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createCaches } from '../../src/caching/index.js';
import type { RedisStore } from '../../src/caching/redis-store.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { cacheConfig, eventually, freePort, keyPrefix, openCaches, redisReachable, SHARED_REDIS_URL, warnings } from './support.js';

// What one instance leaves in Redis, read back with a client of the test's own: every key expires,
// a write's mark lives while it runs and goes with its bump, a deleted tenant leaves only its version.
let database: TestDatabase;
let direct: Redis;

beforeAll(async () => {
  if (!redisReachable) return;
  database = await migratedDatabase();
  direct = new Redis(SHARED_REDIS_URL);
  return () => direct.disconnect();
});

const TTL_SECONDS = 120;

async function keysUnder(pattern: string): Promise<string[]> {
  const found: string[] = [];
  for await (const batch of direct.scanStream({ match: pattern, count: 1000 }) as AsyncIterable<string[]>) found.push(...batch);
  return found.sort();
}

describe.skipIf(!redisReachable)('what RedisStore keeps in Redis', () => {
  it('stores a value for CACHE_TTL_SECONDS under its versions, which live twice as long', async () => {
    const prefix = keyPrefix('ttl');
    const caches = await openCaches('redis', prefix, database, { config: cacheConfig('redis', prefix, { CACHE_TTL_SECONDS: String(TTL_SECONDS) }) });
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    await eventually(() => caches.metrics.layer('query').sets === 1, 'the value to be stored');
    expect(caches.metrics.layer('query').errors).toBe(0);
    const [value] = await keysUnder(`${caches.keys.value('profile', tenant.id, user.id)}:v*`);
    expect(value).toBeDefined();
    expect(JSON.parse((await direct.get(value!))!)).toMatchObject({ id: user.id });
    const valueTtl = await direct.ttl(value!);
    expect(valueTtl).toBeGreaterThan(TTL_SECONDS - 10);
    expect(valueTtl).toBeLessThanOrEqual(TTL_SECONDS);
    for (const scope of [caches.keys.tenantScope(tenant.id), caches.keys.userScope(tenant.id, user.id)]) {
      const ttl = await direct.ttl(scope);
      expect(ttl).toBeGreaterThan(2 * TTL_SECONDS - 10);
      expect(ttl).toBeLessThanOrEqual(2 * TTL_SECONDS);
    }
  });

  it('marks a write\'s scope while it runs, for at most a minute, and lifts the mark with a new version that expires too', async () => {
    const prefix = keyPrefix('mark');
    const caches = await openCaches('redis', prefix, database, { config: cacheConfig('redis', prefix, { CACHE_TTL_SECONDS: String(TTL_SECONDS) }) });
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const scope = caches.keys.userScope(tenant.id, user.id);
    await caches.query.userProfile(tenant.id, user.id);
    const before = await direct.get(scope);
    const seen = await caches.invalidation.userWrite(tenant.id, user.id, async () => {
      await withTenant(database, { tenantId: tenant.id }, (trx) => new UserRepository(trx).putProfile(user.id, { bio: 'marked' }));
      return { members: await direct.smembers(caches.keys.intent(scope)), pttl: await direct.pttl(caches.keys.intent(scope)) };
    });
    expect(seen.members).toHaveLength(1);
    expect(seen.pttl).toBeGreaterThan(50_000);
    expect(seen.pttl).toBeLessThanOrEqual(60_000);
    expect(await direct.exists(caches.keys.intent(scope))).toBe(0);
    const after = await direct.get(scope);
    expect(after).not.toBeNull();
    expect(after).not.toBe(before);
    expect(await direct.ttl(scope)).toBeGreaterThan(2 * TTL_SECONDS - 10);
    expect((await caches.query.userProfile(tenant.id, user.id)).profile.bio).toBe('marked');
  });

  it('deletes every key a deleted tenant left in Redis but its own version, and keeps other tenants\' keys', async () => {
    const prefix = keyPrefix('drop');
    const caches = await openCaches('redis', prefix, database);
    const [gone, kept] = [await createTenant(database), await createTenant(database)];
    for (const tenant of [gone, kept]) {
      const user = await createUser(database, tenant.id);
      await caches.query.userProfile(tenant.id, user.id);
      await caches.query.analyticsSummary(tenant.id, 'summary', {}, async () => ({ tenant: tenant.id }));
    }
    const keptKeys = await keysUnder(`${prefix}:*:${kept.id}:*`);
    expect(await keysUnder(`${prefix}:*:${gone.id}:*`)).not.toEqual([]);
    await caches.invalidation.tenantDelete(gone.id, async () => undefined);
    expect(await keysUnder(`${prefix}:*:${gone.id}:*`)).toEqual([]);
    expect(await keysUnder(`${prefix}:version:${gone.id}:*`)).toEqual([]);
    expect(await direct.exists(caches.keys.tenantScope(gone.id))).toBe(1);
    expect(await keysUnder(`${prefix}:*:${kept.id}:*`)).toEqual(keptKeys);
    expect((caches.store as RedisStore).nearKeys().filter((key) => key.includes(`:${gone.id}:`))).toEqual([]);
  });

  it('warns in these words when Redis cannot be reached, once per interval however many requests fail', async () => {
    const logger = warnings();
    const details: object[] = [];
    const logged = { warn: (detail: object, message: string) => { details.push(detail); logger.warn(detail, message); } };
    const caches = createCaches({
      config: cacheConfig('redis', keyPrefix('warn'), { REDIS_URL: `redis://127.0.0.1:${await freePort()}`, REDIS_TIMEOUT_MS: '50' }),
      database,
      logger: logged,
      retryAfterMs: 0,
    });
    onTestFinished(() => caches.close());
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const redisWarnings = () => logger.messages.filter((message) => message.includes('Redis'));
    await eventually(() => redisWarnings().length > 0, 'a warning');
    // Reads once the versions are heard, so that each of them finds Redis down for itself.
    await eventually(async () => {
      expect((await caches.query.userProfile(tenant.id, user.id)).id).toBe(user.id);
      return caches.metrics.layer('query').errors >= 3;
    }, 'three reads to fail on Redis');
    expect(redisWarnings()).toEqual(['cache: Redis is unavailable or slow; serving from the database until it answers again']);
    expect(details[logger.messages.findIndex((message) => message.includes('Redis'))]).toEqual({ err: expect.stringMatching(/ECONNREFUSED|connect/) });
  });
});
