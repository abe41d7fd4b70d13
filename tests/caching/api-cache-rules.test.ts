import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { Caches } from '../../src/caching/index.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { faultyLink } from './proxy.js';
import {
  adminKeyFor, backends, cacheConfig, cachedApi, eventually, keyPrefix, openCaches, redisReachable, SHARED_REDIS_URL,
  tenantWithUser, type CachedApi,
} from './support.js';

// The response cache's own rules (src/caching/api-cache.ts) that api-cache.test.ts leaves open: what
// guards a kept response, where its errors count, when a copy is counted, and which requests it skips.
let database: TestDatabase;
let adminKey: string;

beforeAll(async () => {
  database = await migratedDatabase();
  adminKey = await adminKeyFor(database);
});

const url = '/v1/analytics/active-users?from=2024-01-01&to=2024-01-07';
const responseStats = (caches: Caches) => caches.metrics.layer('response');

/** One GET, and whether the response cache could use Redis for it (no error counted meanwhile). */
async function cleanGet(api: CachedApi, key: string) {
  const errors = responseStats(api.caches).errors;
  const response = await api.call('GET', url, key);
  expect(response.statusCode).toBe(200);
  return { cache: response.headers['x-cache'], clean: responseStats(api.caches).errors === errors };
}

/** Polls until the response is served from the cache: on a starved machine a lapsed lease sends a GET to the database. */
async function cachedNow(api: CachedApi, key: string): Promise<void> {
  await eventually(async () => (await cleanGet(api, key)).cache === 'hit', 'the response to be served from the cache');
}

/** What the first GET that reached Redis found: one during a lapsed lease proves nothing about versions. */
async function cleanRead(api: CachedApi, key: string): Promise<unknown> {
  let cache: unknown;
  await eventually(async () => {
    const read = await cleanGet(api, key);
    cache = read.cache;
    return read.clean;
  }, 'a GET that reached Redis');
  return cache;
}

describe.skipIf(!redisReachable)('the response cache with Redis', () => {
  it('no longer serves a cached analytics response once its tenant changed in the database by any writer', async () => {
    const caches = await openCaches('redis', keyPrefix('rules-tenant'), database);
    const api = await cachedApi(database, caches);
    const { tenantId, key } = await tenantWithUser(api.call, adminKey, 'Renamed');
    const other = await tenantWithUser(api.call, adminKey, 'Other');
    await cachedNow(api, key);
    await cachedNow(api, other.key);
    // No cache is told: the tenant trigger bumps its version, which reaches the caches through the feed.
    await sql`update tenant set name = 'Renamed again' where id = ${tenantId}`.execute(database.admin);
    await eventually(async () => (await cleanRead(api, key)) === 'miss', 'a miss under the bumped tenant version');
    expect(await cleanRead(api, other.key)).toBe('hit');
  });

  it('counts a cached GET\'s Redis error under the response layer, and answers it from the database', async () => {
    const prefix = keyPrefix('rules-down');
    const link = await faultyLink(SHARED_REDIS_URL);
    const caches = await openCaches('redis', prefix, database, {
      config: cacheConfig('redis', prefix, { REDIS_URL: link.url, REDIS_TIMEOUT_MS: '50' }),
    });
    const api = await cachedApi(database, caches);
    const { key } = await tenantWithUser(api.call, adminKey);
    const first = await api.call('GET', url, key);
    link.cut();
    const errors = responseStats(caches).errors;
    const measured = await database.queries.measure(() => api.call('GET', url, key));
    expect(measured.result.statusCode).toBe(200);
    expect(measured.result.headers['x-cache']).toBe('miss');
    expect(measured.result.body).toBe(first.body);
    expect(measured.queries).toBeGreaterThan(1);
    expect(responseStats(caches).errors).toBeGreaterThan(errors);
  });

  it('does not count a response whose copy Redis refused (stalled while its handler ran) as a set, and misses again', async () => {
    const prefix = keyPrefix('rules-refused');
    const link = await faultyLink(SHARED_REDIS_URL);
    const caches = await openCaches('redis', prefix, database, {
      config: cacheConfig('redis', prefix, { REDIS_URL: link.url, REDIS_TIMEOUT_MS: '50' }), retryAfterMs: 20,
    });
    let errorsAtHandler = -1;
    const api = await cachedApi(database, caches, (app) => {
      // Probed while Redis answered; the copy's SET then times out.
      app.get('/v1/analytics/stalls-redis', async () => {
        errorsAtHandler = responseStats(caches).errors;
        link.stall();
        return { stalled: true };
      });
    });
    onTestFinished(() => link.heal());
    const { key } = await tenantWithUser(api.call, adminKey);
    let attempt = 0;
    await eventually(async () => {
      link.heal();
      const before = responseStats(caches);
      const path = `/v1/analytics/stalls-redis?attempt=${attempt += 1}`;
      expect((await api.call('GET', path, key)).headers['x-cache']).toBe('miss');
      // A probe that counted an error (a lapsed lease) offered no copy to Redis: try again.
      if (errorsAtHandler !== before.errors) return false;
      await eventually(() => responseStats(caches).errors > errorsAtHandler, 'the refused SET to count its error');
      expect(responseStats(caches).sets).toBe(before.sets);
      expect((await api.call('GET', path, key)).headers['x-cache']).toBe('miss');
      return true;
    }, 'a GET probed with Redis answering');
  });
});

describe.each(backends)('the response cache (%s)', (backend) => {
  it('stores nothing for a GET answered while a write to its tenant\'s analytics is in progress', async () => {
    const prefix = keyPrefix('rules-writing');
    const caches = await openCaches(backend, prefix, database);
    const api = await cachedApi(database, caches);
    const { tenantId, key } = await tenantWithUser(api.call, adminKey);
    const sets = responseStats(caches).sets;
    const during = await caches.invalidation.analyticsWrite([tenantId], () => api.call('GET', url, key));
    expect(during.statusCode).toBe(200);
    expect(during.headers['x-cache']).toBe('miss');
    // Stored once the write has ended; a copy from during the write would have been counted first
    // (Redis answers one connection's commands in order, and memory at once).
    await cachedNow(api, key);
    expect(responseStats(caches).sets).toBe(sets + 1);
    if (backend === 'redis') {
      const direct = new Redis(SHARED_REDIS_URL);
      onTestFinished(() => direct.disconnect());
      expect(await direct.keys(caches.keys.value('response', tenantId, '*'))).toHaveLength(1);
    }
  });
});

describe('which requests the response cache skips', () => {
  let api: CachedApi;
  let key: string;
  const calls = { uncached: 0, head: 0, methods: 0 };

  beforeAll(async () => {
    const caches = await openCaches('memory', keyPrefix('rules-skips'), database);
    api = await cachedApi(database, caches, (app) => {
      app.get('/v1/analytics/uncached', { config: { responseCache: false } }, async () => ({ calls: ++calls.uncached }));
      app.get('/v1/analytics/counted', async () => ({ calls: ++calls.head }));
      // One route for several methods: the GET's cache setting is the whole route's.
      app.route({ method: ['GET', 'HEAD', 'POST'], url: '/v1/analytics/methods', handler: async () => ({ calls: ++calls.methods }) });
    });
    ({ key } = await tenantWithUser(api.call, adminKey));
  });

  it('never caches a GET under the analytics prefix that opts out with responseCache: false', async () => {
    for (let call = 1; call <= 3; call += 1) {
      const response = await api.call('GET', '/v1/analytics/uncached', key);
      expect(response.json()).toEqual({ calls: call });
      expect(response.headers['x-cache']).toBeUndefined();
    }
  });

  it('serves and stores only GETs: a HEAD or a POST to a cached route reaches its handler every time', async () => {
    // Fastify answers HEAD for every GET route, through the GET's handler.
    for (let call = 1; call <= 2; call += 1) {
      const head = await api.call('HEAD', '/v1/analytics/counted', key);
      expect(head.statusCode).toBe(200);
      expect(head.headers['x-cache']).toBeUndefined();
      expect(calls.head).toBe(call);
    }
    for (const path of ['/v1/analytics/counted', '/v1/analytics/methods']) {
      expect((await api.call('GET', path, key)).headers['x-cache']).toBe('miss');
      expect((await api.call('GET', path, key)).headers['x-cache']).toBe('hit');
    }
    const head = await api.call('HEAD', '/v1/analytics/counted', key);
    expect(head.headers['x-cache']).toBeUndefined();
    expect(calls.head).toBe(4);
    for (const method of ['HEAD', 'POST', 'HEAD']) {
      const other = await api.call(method, '/v1/analytics/methods', key);
      expect(other.statusCode).toBe(200);
      expect(other.headers['x-cache']).toBeUndefined();
    }
    expect(calls.methods).toBe(4);
  });
});
