import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCaches, type Caches } from '../../src/caching/index.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  adminKeyFor, cacheConfig, cachedApi, eventually, freePort, keyPrefix, privateRedis, redisServerInstalled, tenantWithUser, warnings, type CachedApi,
} from './support.js';

let database: TestDatabase;
let adminKey: string;

beforeAll(async () => {
  database = await migratedDatabase();
  adminKey = await adminKeyFor(database);
});

async function degradableApi(redisUrl: string, env: Record<string, string> = {}) {
  const logger = warnings();
  const caches: Caches = createCaches({
    config: cacheConfig('redis', keyPrefix('degrade'), { REDIS_URL: redisUrl, REDIS_TIMEOUT_MS: '50', ...env }),
    database,
    logger,
    retryAfterMs: 20,
  });
  const api = await cachedApi(database, caches);
  return { ...api, logger, close: () => caches.close() };
}

/** A profile read twice: the second is served from the cache exactly when it made no query. */
async function readTwice(api: CachedApi, key: string, userId: number) {
  const first = await api.call('GET', `/v1/users/${userId}/full`, key);
  const second = await database.queries.measure(() => api.call('GET', `/v1/users/${userId}/full`, key));
  expect(first.statusCode).toBe(200);
  expect(second.result.statusCode).toBe(200);
  return { firstBody: first.json().data, body: second.result.json().data, cached: second.queries === 0 };
}

describe('degrade, don\'t fail', () => {
  it('with Redis at a closed port every request succeeds from the database, with one warning and counted errors', async () => {
    const api = await degradableApi(`redis://127.0.0.1:${await freePort()}`);
    try {
      expect(await api.caches.ready(200)).toBe(false);
      const { key, userId } = await tenantWithUser(api.call, adminKey);
      const before = await readTwice(api, key, userId);
      expect(before).toMatchObject({ cached: false, body: { profile: { bio: 'first' } } });
      expect((await api.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
      expect((await readTwice(api, key, userId)).body.profile.bio).toBe('second');
      expect((await api.call('GET', '/v1/analytics/active-users?from=2024-01-01&to=2024-01-02', key)).statusCode).toBe(200);
      expect(api.logger.messages).toHaveLength(1);
      const stats = api.caches.metrics.snapshot();
      for (const layer of ['session', 'query', 'response'] as const) {
        expect(stats.find((entry) => entry.layer === layer)!.errors).toBeGreaterThan(0);
      }
      expect(stats.every((entry) => entry.hits === 0)).toBe(true);
    } finally {
      await api.close();
    }
  });

  it.skipIf(!redisServerInstalled)('keeps answering while Redis is stopped mid-test, and caches again by itself once it is back', async () => {
    const redis = await privateRedis();
    const api = await degradableApi(redis.url);
    try {
      expect(await api.caches.ready(5000)).toBe(true);
      const { key, userId } = await tenantWithUser(api.call, adminKey);
      expect(await readTwice(api, key, userId)).toMatchObject({ cached: true, body: { profile: { bio: 'first' } } });
      await redis.stop();
      const errorsBefore = api.caches.metrics.layer('query').errors;
      expect(await readTwice(api, key, userId)).toMatchObject({ cached: false, body: { profile: { bio: 'first' } } });
      expect((await api.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'while down' })).statusCode).toBe(200);
      expect((await readTwice(api, key, userId)).body.profile.bio).toBe('while down');
      expect(api.caches.metrics.layer('query').errors).toBeGreaterThan(errorsBefore);
      await redis.start();
      await eventually(async () => (await readTwice(api, key, userId)).cached, 'caching to resume');
      expect((await readTwice(api, key, userId)).body.profile.bio).toBe('while down');
    } finally {
      await api.close();
    }
  });

  it.skipIf(!redisServerInstalled)('replays a version bump lost while Redis was away before reading from it again, so a restored Redis never serves the old value', async () => {
    const redis = await privateRedis({ persistent: true });
    const api = await degradableApi(redis.url);
    try {
      expect(await api.caches.ready(5000)).toBe(true);
      const { key, userId } = await tenantWithUser(api.call, adminKey);
      expect(await readTwice(api, key, userId)).toMatchObject({ cached: true, body: { profile: { bio: 'first' } } });
      await redis.stop();
      expect((await api.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
      // Its append-only file brings back the old version and the old value under it.
      await redis.start();
      // Every read from here on, the ones polling for the reconnect included (both reads of each pair,
      // from the database or from the restored Redis), must answer the new bio: a bump replayed only
      // later (by the timer, say) would let a read in between be served the old one.
      const readNew = async () => {
        const read = await readTwice(api, key, userId);
        expect(read.firstBody.profile.bio).toBe('second');
        expect(read.body.profile.bio).toBe('second');
        return read;
      };
      await eventually(async () => (await readNew()).cached, 'caching to resume');
      expect((await readNew()).body.profile.bio).toBe('second');
    } finally {
      await api.close();
    }
  });

  it.skipIf(!redisServerInstalled)('replays a lost bump by itself while idle, counting no error for want of a request, so other instances stop serving the old value', async () => {
    const redis = await privateRedis({ persistent: true });
    // Two instances of one deployment: the same Redis and the same key prefix.
    const shared = { CACHE_KEY_PREFIX: keyPrefix('degrade-shared') };
    const writer = await degradableApi(redis.url, shared);
    const reader = await degradableApi(redis.url, shared);
    try {
      expect(await writer.caches.ready(5000)).toBe(true);
      expect(await reader.caches.ready(5000)).toBe(true);
      const { key, userId } = await tenantWithUser(writer.call, adminKey);
      expect(await readTwice(reader, key, userId)).toMatchObject({ cached: true, body: { profile: { bio: 'first' } } });
      await redis.stop();
      expect((await writer.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
      const errors = () => writer.caches.metrics.snapshot().reduce((sum, layer) => sum + layer.errors, 0);
      const idleFrom = errors();
      // Four replay ticks with no request: none of them is an operation answered from the database.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      expect(errors()).toBe(idleFrom);
      // The restored Redis holds the old version and value; only the writer's timer can bump it.
      await redis.start();
      await eventually(async () => {
        const read = await readTwice(reader, key, userId);
        return read.cached && read.body.profile.bio === 'second';
      }, 'the writer\'s timer to replay its bump');
    } finally {
      await writer.close();
      await reader.close();
    }
  });

  it.skipIf(!redisServerInstalled)('treats a Redis slower than the command timeout as down, and still answers every request', async () => {
    const redis = await privateRedis();
    const api = await degradableApi(redis.url);
    const pauser = new Redis(redis.url);
    try {
      expect(await api.caches.ready(5000)).toBe(true);
      const { key, userId } = await tenantWithUser(api.call, adminKey);
      expect((await readTwice(api, key, userId)).cached).toBe(true);
      const errorsBefore = api.caches.metrics.layer('session').errors;
      await pauser.client('PAUSE', 1000, 'ALL');
      expect((await api.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'during the pause' })).statusCode).toBe(200);
      expect((await readTwice(api, key, userId)).body.profile.bio).toBe('during the pause');
      expect(api.caches.metrics.layer('session').errors).toBeGreaterThan(errorsBefore);
      await eventually(async () => (await readTwice(api, key, userId)).cached, 'caching to resume after the pause');
      expect((await readTwice(api, key, userId)).body.profile.bio).toBe('during the pause');
    } finally {
      pauser.disconnect();
      await api.close();
    }
  });
});
