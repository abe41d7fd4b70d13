import { Redis } from 'ioredis';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createCaches, disabledCaches } from '../../src/caching/index.js';
import type { ReadThroughHooks } from '../../src/caching/read-through.js';
import { layerStats } from '../../src/cli/cache-stats.js';
import { loadConfig } from '../../src/config.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { adminKeyFor, cacheConfig, eventually, keyPrefix, openCaches, privateRedis, redisReachable, redisServerInstalled, SHARED_REDIS_URL, tenantWithUser, warnings, backends } from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

const setBio = (tenantId: number, userId: number, bio: string) =>
  withTenant(database, { tenantId }, (trx) => new UserRepository(trx).putProfile(userId, { bio }));

describe('createCaches', () => {
  it.skipIf(!redisReachable)('keeps values in this process without REDIS_URL, and in Redis with it', async () => {
    const memory = createCaches({ config: cacheConfig('memory', keyPrefix('pick')), database });
    const redis = createCaches({ config: cacheConfig('redis', keyPrefix('pick')), database, logger: warnings() });
    try {
      expect([memory.backend, redis.backend]).toEqual(['memory', 'redis']);
      expect(await redis.ready(5000)).toBe(true);
    } finally {
      await memory.close();
      await redis.close();
    }
  });

  it('builds an app without caches that answers every read from the database, as before caching existed', async () => {
    const app = await buildApp({ database, config: loadConfig({}) });
    try {
      const adminKey = await adminKeyFor(database);
      const call = (url: string, key: string) => app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
      const { key, userId } = await tenantWithUser((method, url, bearer, body) => app.inject({
        method: method as 'POST', url, headers: { authorization: `Bearer ${bearer}` }, ...(body === undefined ? {} : { payload: body as object }),
      }), adminKey);
      for (const bio of ['first', 'second']) {
        if (bio === 'second') {
          await app.inject({ method: 'PUT', url: `/v1/users/${userId}/profile`, headers: { authorization: `Bearer ${key}` }, payload: { bio } });
        }
        const { result, queries } = await database.queries.measure(() => call(`/v1/users/${userId}/full`, key));
        expect(result.json().data.profile.bio).toBe(bio);
        expect(queries).toBeGreaterThan(0);
      }
      expect((await call('/metrics', adminKey)).body).toContain('backend="none"');
      const analytics = await database.queries.measure(() => call('/v1/analytics/active-users?from=2024-01-01&to=2024-01-02', key));
      expect(analytics.result.statusCode).toBe(200);
      expect(analytics.result.headers['x-cache']).toBeUndefined();
      expect(analytics.statements).not.toContain('select max("id") as "id" from "etl_run"');
    } finally {
      await app.close();
    }
  });
});

describe.each(backends)('overlapping writes (%s)', (backend) => {
  it('keep a profile out of the cache until the last of two overlapping writes has ended', async () => {
    const caches = await openCaches(backend, keyPrefix(`overlap-${backend}`), database);
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const read = async () => (await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id))).queries === 0;
    let endFirst!: () => void;
    let endSecond!: () => void;
    const first = caches.invalidation.userWrite(tenant.id, user.id, () => new Promise<void>((resolve) => {
      endFirst = resolve;
    }));
    const second = caches.invalidation.userWrite(tenant.id, user.id, () => new Promise<void>((resolve) => {
      endSecond = resolve;
    }));
    await eventually(() => endFirst !== undefined && endSecond !== undefined, 'both writes to start');
    await read();
    expect(await read()).toBe(false);
    endFirst();
    await first;
    await read();
    expect(await read()).toBe(false);
    endSecond();
    await second;
    await read();
    expect(await read()).toBe(true);
  });
});

describe('disabledCaches', () => {
  it('loads an analytics summary every time, without asking for the data version', async () => {
    const caches = disabledCaches(database);
    let loads = 0;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { queries } = await database.queries.measure(() => caches.query.analyticsSummary(1, 'weekly', {}, async () => ++loads));
      expect(queries).toBe(0);
    }
    expect(loads).toBe(2);
  });
});

describe('MemoryStore', () => {
  it('stays correct when the LRU evicts versions and values: an eviction only costs a miss', async () => {
    const caches = createCaches({ config: cacheConfig('memory', keyPrefix('lru'), { CACHE_MAX_ENTRIES: '1' }), database });
    const tenant = await createTenant(database);
    const users = [await createUser(database, tenant.id), await createUser(database, tenant.id)];
    for (const user of users) await caches.query.userProfile(tenant.id, user.id);
    await caches.invalidation.userWrite(tenant.id, users[0]!.id, () => setBio(tenant.id, users[0]!.id, 'after eviction'));
    expect((await caches.query.userProfile(tenant.id, users[0]!.id)).profile.bio).toBe('after eviction');
    expect((await caches.query.userProfile(tenant.id, users[1]!.id)).email).toBe(users[1]!.email);
    await caches.close();
  });
});

describe.skipIf(!redisReachable || !redisServerInstalled)('RedisStore', () => {
  it('serves hits from Redis with zero queries when the near cache is turned off', async () => {
    const caches = await openCaches('redis', keyPrefix('far'), database, { nearCacheMax: 0 });
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    const second = await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id));
    expect(second.queries).toBe(0);
    expect(second.result.id).toBe(user.id);
  });

  it('ignores a malformed invalidation message, with a warning', async () => {
    const prefix = keyPrefix('garbage');
    const logger = warnings();
    const caches = await openCaches('redis', prefix, database, { logger });
    const publisher = new Redis(SHARED_REDIS_URL);
    try {
      await publisher.publish(`${prefix}:invalidations`, 'not json');
      await eventually(() => logger.messages.length > 0, 'the warning');
      const tenant = await createTenant(database);
      const user = await createUser(database, tenant.id);
      expect((await caches.query.userProfile(tenant.id, user.id)).id).toBe(user.id);
    } finally {
      publisher.disconnect();
    }
  });

  it('does not store a value loaded while Redis stopped answering, and still returns it', async () => {
    const redis = await privateRedis();
    const hooks: ReadThroughHooks = {};
    const caches = await openCaches('redis', keyPrefix('lost-set'), database, {
      config: cacheConfig('redis', keyPrefix('lost-set'), { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '50' }), hooks, retryAfterMs: 0,
    });
    const pauser = new Redis(redis.url);
    try {
      const tenant = await createTenant(database);
      const user = await createUser(database, tenant.id);
      hooks.beforeStore = async () => {
        await pauser.client('PAUSE', 300, 'ALL');
      };
      const before = caches.metrics.layer('query');
      expect((await caches.query.userProfile(tenant.id, user.id)).id).toBe(user.id);
      // The store finishes after the read has returned: its timeout is counted when it comes.
      await vi.waitFor(() => expect(caches.metrics.layer('query').errors - before.errors).toBe(1), { timeout: 2000 });
      expect(caches.metrics.layer('query').sets - before.sets).toBe(0);
    } finally {
      pauser.disconnect();
    }
  });

  it('lets a write commit when Redis times out at its start and its end, and replays the bump once Redis answers', async () => {
    const redis = await privateRedis();
    const caches = await openCaches('redis', keyPrefix('lost-bump'), database, {
      config: cacheConfig('redis', keyPrefix('lost-bump'), { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '50' }), retryAfterMs: 0,
    });
    const pauser = new Redis(redis.url);
    try {
      const tenant = await createTenant(database);
      const user = await createUser(database, tenant.id);
      await caches.query.userProfile(tenant.id, user.id);
      await pauser.client('PAUSE', 500, 'ALL');
      const errors = caches.metrics.layer('query').errors;
      await caches.invalidation.userWrite(tenant.id, user.id, () => setBio(tenant.id, user.id, 'written while paused'));
      expect(caches.metrics.layer('query').errors - errors).toBe(2);
      await eventually(async () => (await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id))).queries === 0, 'caching to resume');
      expect((await caches.query.userProfile(tenant.id, user.id)).profile.bio).toBe('written while paused');
    } finally {
      pauser.disconnect();
    }
  });
  it('replays a bump lost to a dropped connection on its own, while the other instance never serves the old value', async () => {
    const redis = await privateRedis();
    const link = await cuttableLink(Number(new URL(redis.url).port));
    const prefix = keyPrefix('lost-bump-timer');
    const writer = await openCaches('redis', prefix, database, {
      config: cacheConfig('redis', prefix, { REDIS_URL: `redis://127.0.0.1:${link.port}`, REDIS_TIMEOUT_MS: '50' }), retryAfterMs: 0,
    });
    const reader = await openCaches('redis', prefix, database, {
      config: cacheConfig('redis', prefix, { REDIS_URL: redis.url, REDIS_TIMEOUT_MS: '50' }), retryAfterMs: 0,
    });
    const direct = new Redis(redis.url);
    try {
      const tenant = await createTenant(database);
      const user = await createUser(database, tenant.id);
      await setBio(tenant.id, user.id, 'before');
      expect((await reader.query.userProfile(tenant.id, user.id)).profile.bio).toBe('before');
      const versionKey = reader.keys.userScope(tenant.id, user.id);
      const before = await direct.get(versionKey);
      // Only the writer loses Redis: its bump cannot reach it, while the reader keeps reading it.
      link.cut();
      await writer.invalidation.userWrite(tenant.id, user.id, () => setBio(tenant.id, user.id, 'after'));
      // The commit's own database version (migrations 0019, 0023) already retired the reader's copy.
      expect((await reader.query.userProfile(tenant.id, user.id)).profile.bio).toBe('after');
      link.restore();
      // No further call on the writer: the replay must come by itself once its connection is back.
      await eventually(async () => (await direct.get(versionKey)) !== before, 'the writer to replay its bump', 8_000);
    } finally {
      link.close();
      direct.disconnect();
    }
  });
});

describe('layerStats', () => {
  it('reads zeros and no hit rate for layers the instance has not counted', () => {
    const { backend, layers } = layerStats([{ name: 'strata_cache_hits_total', values: [{ value: 3, labels: { layer: 'query' } }] }]);
    expect(backend).toBe('unknown');
    expect(layers.find((layer) => layer.layer === 'query')).toMatchObject({ hits: 3, misses: 0, hitRate: 1 });
    expect(layers.find((layer) => layer.layer === 'session')).toMatchObject({ hits: 0, hitRate: null });
  });
});

/** A TCP relay to Redis that can drop every connection and refuse new ones, then accept again. */
async function cuttableLink(targetPort: number) {
  const sockets = new Set<Socket>();
  let open = true;
  const server = createServer((client) => {
    if (!open) return client.destroy();
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
