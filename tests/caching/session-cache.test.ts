import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { Caches } from '../../src/caching/index.js';
import type { MemoryStore } from '../../src/caching/memory-store.js';
import type { CacheEntry } from '../../src/caching/store.js';
import { authenticate, type Principal } from '../../src/services/api-keys.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  adminKeyFor, cachedApi, eventually, keyPrefix, openCaches, redisReachable, SHARED_REDIS_URL, tenantWithUser, type Call,
} from './support.js';

/** The SHA-256 a session is stored under instead of the key (base64url, as session-cache.ts makes it). */
const keyHash = (key: string) => createHash('sha256').update(key).digest('base64url');

let database: TestDatabase;
let caches: Caches;
let call: Call;
let adminKey: string;
let resolve: (key: string) => Promise<Principal | null>;

beforeAll(async () => {
  database = await migratedDatabase();
  caches = await openCaches('memory', keyPrefix('session'), database);
  ({ call } = await cachedApi(database, caches));
  adminKey = await adminKeyFor(database);
  resolve = caches.session.wrap((key) => authenticate(database.admin, key));
});

describe('SessionCache', () => {
  it('answers a repeated authenticated profile read with zero queries: the key and the profile both come from the cache', async () => {
    const { key, userId } = await tenantWithUser(call, adminKey);
    const first = await database.queries.measure(() => call('GET', `/v1/users/${userId}/full`, key));
    const second = await database.queries.measure(() => call('GET', `/v1/users/${userId}/full`, key));
    expect(first.result.statusCode).toBe(200);
    expect(first.queries).toBeGreaterThan(0);
    expect(second.result.statusCode).toBe(200);
    expect(second.queries).toBe(0);
    expect(second.result.json()).toEqual(first.result.json());
  });

  it('refuses a revoked key on its very next request, and keeps the tenant\'s other keys working', async () => {
    const { key } = await tenantWithUser(call, adminKey);
    const second = (await call('POST', '/v1/api-keys', key, { name: 'second' })).json().data;
    expect((await call('GET', '/v1/api-keys', second.key)).statusCode).toBe(200);
    // The second request finds the key's session in the cache: exactly one session hit, no miss.
    const before = caches.metrics.layer('session');
    expect((await call('GET', '/v1/api-keys', second.key)).statusCode).toBe(200);
    expect(caches.metrics.layer('session')).toMatchObject({ hits: before.hits + 1, misses: before.misses });
    expect((await call('DELETE', `/v1/api-keys/${second.id}`, key)).statusCode).toBe(204);
    expect((await call('GET', '/v1/api-keys', second.key)).statusCode).toBe(401);
    expect((await call('GET', '/v1/api-keys', key)).statusCode).toBe(200);
  });

  it('leaves other tenants\' sessions cached when one tenant revokes a key', async () => {
    const revoking = await tenantWithUser(call, adminKey, 'Revoking');
    const bystander = await tenantWithUser(call, adminKey, 'Bystander');
    const extra = (await call('POST', '/v1/api-keys', revoking.key, { name: 'extra' })).json().data;
    await call('GET', `/v1/users/${bystander.userId}/full`, bystander.key);
    expect((await call('DELETE', `/v1/api-keys/${extra.id}`, revoking.key)).statusCode).toBe(204);
    expect((await database.queries.measure(() => call('GET', `/v1/users/${bystander.userId}/full`, bystander.key))).queries).toBe(0);
  });

  it('a failed revoke (another tenant\'s key id) changes nothing: the key keeps working', async () => {
    const owner = await tenantWithUser(call, adminKey, 'Owner');
    const intruder = await tenantWithUser(call, adminKey, 'Intruder');
    const ownerKeyId = (await call('GET', '/v1/api-keys', owner.key)).json().data[0].id;
    expect((await call('DELETE', `/v1/api-keys/${ownerKeyId}`, intruder.key)).statusCode).toBe(404);
    expect((await call('GET', '/v1/api-keys', owner.key)).statusCode).toBe(200);
  });

  it('refuses every key of a deleted tenant on the next request', async () => {
    const { tenantId, key, userId } = await tenantWithUser(call, adminKey);
    expect((await call('GET', `/v1/users/${userId}/full`, key)).statusCode).toBe(200);
    expect((await call('DELETE', `/v1/tenants/${tenantId}`, adminKey)).statusCode).toBe(204);
    expect((await call('GET', `/v1/users/${userId}/full`, key)).statusCode).toBe(401);
  });

  it('checks admin keys against the database on every request', async () => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { result, queries } = await database.queries.measure(() => resolve(adminKey));
      expect(result).toMatchObject({ kind: 'admin' });
      expect(queries).toBeGreaterThan(0);
    }
  });

  it('never caches an unknown key, so it is refused every time and stores nothing', async () => {
    const { tenantId } = await tenantWithUser(call, adminKey);
    const unknown = `strata_${tenantId}_${'A'.repeat(43)}`;
    const setsBefore = caches.metrics.layer('session').sets;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { result, queries } = await database.queries.measure(() => resolve(unknown));
      expect(result).toBeNull();
      expect(queries).toBeGreaterThan(0);
    }
    expect(caches.metrics.layer('session').sets).toBe(setsBefore);
  });

  it('stores a session under the key\'s hash, never the key itself, and for at most a minute', async () => {
    // What the session layer hands the store: the entry (its key and lifetime) and the value. The
    // key is first used, and its session stored, when tenantWithUser creates the user with it.
    const sessionWrites: Array<{ entry: CacheEntry; value: unknown }> = [];
    const original = caches.store.write.bind(caches.store);
    const write = vi.spyOn(caches.store, 'write').mockImplementation(async (entry, version, value) => {
      if (entry.layer === 'session') sessionWrites.push({ entry, value });
      return original(entry, version, value);
    });
    let created: Awaited<ReturnType<typeof tenantWithUser>>;
    try {
      created = await tenantWithUser(call, adminKey);
      await resolve(created.key);
    } finally {
      write.mockRestore();
    }
    const { tenantId, key } = created;
    const secret = key.slice(`strata_${tenantId}_`.length);
    expect((caches.store as MemoryStore).keys().some((stored) => stored.includes(secret))).toBe(false);
    // authenticate() refreshes last_used_at once a minute; a longer session would let it go stale.
    expect(caches.session.ttlSeconds).toBeLessThanOrEqual(60);
    // The default CACHE_TTL_SECONDS is longer than a minute, so the cap is what keeps the session short.
    expect(caches.ttlSeconds).toBeGreaterThan(60);
    const base = caches.keys.value('session', tenantId, keyHash(key));
    expect(sessionWrites).toHaveLength(1);
    expect(sessionWrites[0]!.entry).toMatchObject({ base, layer: 'session' });
    expect(sessionWrites[0]!.entry.ttlSeconds).toBeGreaterThan(0);
    expect(sessionWrites[0]!.entry.ttlSeconds).toBeLessThanOrEqual(60);
    expect(sessionWrites[0]!.value).toEqual({ kind: 'tenant', tenantId, keyId: expect.any(Number), readOnly: false });
    expect(JSON.stringify(sessionWrites[0]!.value)).not.toContain(secret);
    expect((caches.store as MemoryStore).keys()).toContain(base);
  });

  it.skipIf(!redisReachable)('in Redis too: the session key holds the key\'s hash, its value not the secret, and it expires within a minute', async () => {
    const prefix = keyPrefix('session-redis');
    const redisCaches = await openCaches('redis', prefix, database);
    const redisResolve = redisCaches.session.wrap((key) => authenticate(database.admin, key));
    const { tenantId, key } = await tenantWithUser(call, adminKey);
    const secret = key.slice(`strata_${tenantId}_`.length);
    const inspector = new Redis(SHARED_REDIS_URL);
    try {
      expect(await redisResolve(key)).toMatchObject({ kind: 'tenant', tenantId });
      const sessionKeys = () => inspector.keys(`${prefix}:session:*`);
      // The store is not awaited by the read: wait for it to land.
      await eventually(async () => (await sessionKeys()).length > 0, 'the session to be stored in Redis');
      const everything = await inspector.keys(`${prefix}:*`);
      expect(everything.some((stored) => stored.includes(secret))).toBe(false);
      const [sessionKey, ...others] = await sessionKeys();
      expect(others).toEqual([]);
      expect(sessionKey!.startsWith(`${redisCaches.keys.value('session', tenantId, keyHash(key))}:v`)).toBe(true);
      const values = await Promise.all(everything.map(async (stored) => (await inspector.type(stored)) === 'string' ? inspector.get(stored) : ''));
      expect(values.some((value) => value?.includes(secret))).toBe(false);
      expect(JSON.parse((await inspector.get(sessionKey!))!)).toEqual({ kind: 'tenant', tenantId, keyId: expect.any(Number), readOnly: false });
      const ttl = await inspector.pttl(sessionKey!);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    } finally {
      inspector.disconnect();
    }
  });
});
