import { beforeAll, describe, expect, it } from 'vitest';
import type { Caches } from '../../src/caching/index.js';
import type { MemoryStore } from '../../src/caching/memory-store.js';
import { authenticate, type Principal } from '../../src/services/api-keys.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { adminKeyFor, cachedApi, keyPrefix, openCaches, tenantWithUser, type Call } from './support.js';

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
    expect((await call('GET', '/v1/api-keys', second.key)).statusCode).toBe(200);
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
    const { tenantId, key } = await tenantWithUser(call, adminKey);
    await resolve(key);
    const secret = key.slice(`strata_${tenantId}_`.length);
    expect((caches.store as MemoryStore).keys().some((stored) => stored.includes(secret))).toBe(false);
    // authenticate() refreshes last_used_at once a minute; a longer session would let it go stale.
    expect(caches.session.ttlSeconds).toBeLessThanOrEqual(60);
  });
});
