import { beforeAll, describe, expect, it } from 'vitest';
import type { RedisStore } from '../../src/caching/redis-store.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  adminKeyFor, cachedApi, eventually, keyPrefix, openCaches, redisReachable, tenantWithUser, type CachedApi,
} from './support.js';

// Two instances of the API, as two processes behind a load balancer would be: one database, one
// Redis, each with its own caches object (and so its own near cache and subscriber).
let database: TestDatabase;
let a: CachedApi;
let b: CachedApi;
let adminKey: string;

beforeAll(async () => {
  if (!redisReachable) return;
  database = await migratedDatabase();
  const prefix = keyPrefix('instances');
  a = await cachedApi(database, await openCaches('redis', prefix, database));
  b = await cachedApi(database, await openCaches('redis', prefix, database));
  adminKey = await adminKeyFor(database);
});

describe.skipIf(!redisReachable)('two instances sharing one Redis', () => {
  it('B answers from what A cached: its first read of the profile reads only the versions committed, then none', async () => {
    const { key, userId } = await tenantWithUser(a.call, adminKey);
    const fromA = await a.call('GET', `/v1/users/${userId}/full`, key);
    // B has heard of the user (creating it bumped its version) but not of the tenant and its keys:
    // it reads those versions (and the user's, had it missed its creation), and both values from Redis.
    const fromB = await database.queries.measure(() => b.call('GET', `/v1/users/${userId}/full`, key));
    expect(fromB.result.statusCode).toBe(200);
    expect(fromB.queries).toBeGreaterThanOrEqual(1);
    expect(fromB.queries).toBeLessThanOrEqual(2);
    expect(fromB.statements.every((statement) => statement.includes('from cache_version'))).toBe(true);
    expect(fromB.result.json()).toEqual(fromA.json());
    const again = await database.queries.measure(() => b.call('GET', `/v1/users/${userId}/full`, key));
    expect(again.queries).toBe(0);
  });

  it('a profile updated through A is read through B immediately afterwards with the new value', async () => {
    const { key, userId } = await tenantWithUser(a.call, adminKey);
    expect((await b.call('GET', `/v1/users/${userId}/full`, key)).json().data.profile.bio).toBe('first');
    // B's second read is served by B's caches (no query, one profile hit and one session hit), so
    // the read after A's write below has an old copy to be wrongly served from.
    const before = { query: b.caches.metrics.layer('query'), session: b.caches.metrics.layer('session') };
    const warm = await database.queries.measure(() => b.call('GET', `/v1/users/${userId}/full`, key));
    expect(warm.result.json().data.profile.bio).toBe('first');
    expect(warm.queries).toBe(0);
    expect(b.caches.metrics.layer('query')).toMatchObject({ hits: before.query.hits + 1, misses: before.query.misses });
    expect(b.caches.metrics.layer('session')).toMatchObject({ hits: before.session.hits + 1, misses: before.session.misses });
    expect((await a.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
    expect((await b.call('GET', `/v1/users/${userId}/full`, key)).json().data.profile.bio).toBe('second');
    // Before each later write too, B holds the current value: a read through B makes no query. A
    // read that beat the write's NOTIFY to B stored its (new) value under the old database version,
    // so the first read after B hears it may miss once more: polled, every read checked.
    const cachedInB = async (check: (data: Record<string, any>) => void) => eventually(async () => {
      const read = await database.queries.measure(() => b.call('GET', `/v1/users/${userId}/full`, key));
      check(read.result.json().data);
      return read.queries === 0;
    }, 'B to serve the current value from its caches');
    await cachedInB((data) => expect(data.profile.bio).toBe('second'));
    expect((await a.call('PATCH', `/v1/users/${userId}`, key, { email: 'renamed@example.com' })).statusCode).toBe(200);
    expect((await b.call('GET', `/v1/users/${userId}/full`, key)).json().data.email).toBe('renamed@example.com');
    await cachedInB((data) => expect(data.email).toBe('renamed@example.com'));
    expect((await a.call('PATCH', `/v1/users/${userId}/settings`, key, { theme: 'dark' })).statusCode).toBe(200);
    expect((await b.call('GET', `/v1/users/${userId}/full`, key)).json().data.settings).toEqual({ theme: 'dark' });
    await cachedInB((data) => expect(data.settings).toEqual({ theme: 'dark' }));
    expect((await a.call('DELETE', `/v1/users/${userId}`, key)).statusCode).toBe(204);
    expect((await b.call('GET', `/v1/users/${userId}/full`, key)).statusCode).toBe(404);
  });

  it('a key revoked through A is refused by B on its very next request', async () => {
    const { key } = await tenantWithUser(a.call, adminKey);
    const second = (await a.call('POST', '/v1/api-keys', key, { name: 'second' })).json().data;
    expect((await b.call('GET', '/v1/api-keys', second.key)).statusCode).toBe(200);
    // B's second request finds the key's session in B's cache: exactly one session hit, no miss.
    const before = b.caches.metrics.layer('session');
    expect((await b.call('GET', '/v1/api-keys', second.key)).statusCode).toBe(200);
    expect(b.caches.metrics.layer('session')).toMatchObject({ hits: before.hits + 1, misses: before.misses });
    expect((await a.call('DELETE', `/v1/api-keys/${second.id}`, key)).statusCode).toBe(204);
    expect((await b.call('GET', '/v1/api-keys', second.key)).statusCode).toBe(401);
    expect((await b.call('GET', '/v1/api-keys', key)).statusCode).toBe(200);
  });

  it('a tenant deleted through A is refused by B at once, and pub/sub drops its data from B\'s memory', async () => {
    const { tenantId, key, userId } = await tenantWithUser(a.call, adminKey);
    expect((await b.call('GET', `/v1/users/${userId}/full`, key)).statusCode).toBe(200);
    const heldByB = () => (b.caches.store as RedisStore).nearKeys().filter((stored) => stored.includes(`:${tenantId}:`));
    expect(heldByB()).not.toEqual([]);
    expect((await a.call('DELETE', `/v1/tenants/${tenantId}`, adminKey)).statusCode).toBe(204);
    expect((await b.call('GET', `/v1/users/${userId}/full`, key)).statusCode).toBe(401);
    await eventually(() => heldByB().length === 0, 'B to drop the deleted tenant\'s near-cache entries');
  });
});
