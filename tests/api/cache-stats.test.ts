import { beforeAll, describe, expect, it } from 'vitest';
import { adminKeyFor, cachedApi, keyPrefix, openCaches, tenantWithUser, type CachedApi, type TenantUser } from '../caching/support.js';
import { migratedDatabase } from '../helpers/database.js';
import { conformToDocument } from './support/conformance.js';

let api: CachedApi;
let adminKey: string;
let a: TenantUser;
let b: TenantUser;

interface LayerStats { layer: string; hits: number; misses: number; sets: number; hitRate: number | null }

async function statsOf(key: string): Promise<Record<string, LayerStats>> {
  const response = await api.call('GET', '/v1/cache-stats', key);
  expect(response.statusCode, response.body).toBe(200);
  return Object.fromEntries((response.json().data as LayerStats[]).map((layer) => [layer.layer, layer]));
}

beforeAll(async () => {
  const database = await migratedDatabase();
  api = await cachedApi(database, await openCaches('memory', keyPrefix('tenant-stats'), database));
  conformToDocument(api.app);
  adminKey = await adminKeyFor(database);
  a = await tenantWithUser(api.call, adminKey, 'A');
  b = await tenantWithUser(api.call, adminKey, 'B');
});

describe('GET /v1/cache-stats', () => {
  it('counts the caller\'s own lookups per layer on this instance: a profile read twice is one miss, one set and one hit', async () => {
    const before = await statsOf(a.key);
    const first = await api.call('GET', `/v1/users/${a.userId}/full`, a.key);
    await api.call('GET', `/v1/users/${a.userId}/full`, a.key);
    await api.call('GET', `/v1/users/${a.userId}/full`, a.key, undefined, { 'if-none-match': first.headers.etag as string });
    await new Promise((resolve) => setTimeout(resolve, 50)); // sets are counted once the store confirms them
    const after = await statsOf(a.key);
    expect(after.query!.misses - before.query!.misses).toBe(1);
    expect(after.query!.sets - before.query!.sets).toBe(1);
    expect(after.query!.hits - before.query!.hits).toBe(2);
    expect(after.etag!.hits - before.etag!.hits).toBe(1);
    // Each request after the first authenticates from the session cache.
    expect(after.session!.hits - before.session!.hits).toBe(4);
    expect(after.query!.hitRate).toBe(after.query!.hits / (after.query!.hits + after.query!.misses));
    expect(Object.keys(after)).toEqual(['session', 'query', 'response', 'etag']);
  });

  it('cannot see another tenant\'s lookups: B\'s counts stay where they were while A reads', async () => {
    const before = await statsOf(b.key);
    await api.call('GET', `/v1/users/${a.userId}/full`, a.key);
    const after = await statsOf(b.key);
    expect(after.query).toEqual(before.query);
    expect(after.etag).toEqual(before.etag);
    expect(after.session!.hits + after.session!.misses - before.session!.hits - before.session!.misses).toBe(1);
  });

  it('refuses a query parameter with VALIDATION_FAILED, and the admin key with UNAUTHENTICATED', async () => {
    const bad = await api.call('GET', '/v1/cache-stats?layer=query', a.key);
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('VALIDATION_FAILED');
    expect((await api.call('GET', '/v1/cache-stats', adminKey)).json().error.code).toBe('UNAUTHENTICATED');
  });
});
