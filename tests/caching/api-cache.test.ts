import { Readable } from 'node:stream';
import { beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import type { MemoryStore } from '../../src/caching/memory-store.js';
import { adminKeyFor, backends, cachedApi, eventually, keyPrefix, openCaches, tenantWithUser, type CachedApi } from './support.js';

let database: TestDatabase;
let api: CachedApi;
let adminKey: string;
const failing = { calls: 0 };
let publicCalls = 0;

beforeAll(async () => {
  database = await migratedDatabase();
  const caches = await openCaches('memory', keyPrefix('api'), database);
  api = await cachedApi(database, caches, (app) => {
    // Under the analytics prefix, so it gets the response cache like the real analytics routes.
    app.get('/v1/analytics/failing', async (_request, reply) => {
      failing.calls += 1;
      return reply.status(503).send({ error: { code: 'DATABASE_UNAVAILABLE', message: 'down', details: [] } });
    });
    app.get('/v1/analytics/public', { config: { access: 'public' } }, async () => ({ calls: ++publicCalls }));
    app.get('/v1/test/buffer', async (_request, reply) => reply.type('application/octet-stream').send(Buffer.from('bytes')));
    app.get('/v1/test/stream', async (_request, reply) => reply.type('text/plain').send(Readable.from(['streamed'])));
    app.get('/v1/test/own-headers', async (_request, reply) => reply.header('etag', '"own"').header('cache-control', 'public, max-age=60').send({ own: true }));
    app.get('/v1/test/own-cache-control', async (_request, reply) => reply.header('cache-control', 'public, max-age=60').send({ own: true }));
  });
  adminKey = await adminKeyFor(database);
});

describe('ETag and 304 Not Modified', () => {
  it('sends an ETag with a GET, and answers 304 with no body to a client that already holds it', async () => {
    const { key, userId } = await tenantWithUser(api.call, adminKey);
    const first = await api.call('GET', `/v1/users/${userId}/full`, key);
    const etag = first.headers.etag as string;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers['cache-control']).toBe('private, no-cache');
    const again = await api.call('GET', `/v1/users/${userId}/full`, key, undefined, { 'if-none-match': etag });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    expect(again.headers.etag).toBe(etag);
  });

  it('no longer matches once the resource changed: 200 with the new body and a new ETag', async () => {
    const { key, userId } = await tenantWithUser(api.call, adminKey);
    const etag = (await api.call('GET', `/v1/users/${userId}/full`, key)).headers.etag as string;
    await api.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'changed' });
    const after = await api.call('GET', `/v1/users/${userId}/full`, key, undefined, { 'if-none-match': etag });
    expect(after.statusCode).toBe(200);
    expect(after.json().data.profile.bio).toBe('changed');
    expect(after.headers.etag).not.toBe(etag);
  });

  it('compares If-None-Match weakly, within a list, and takes * as a match', async () => {
    const { key, userId } = await tenantWithUser(api.call, adminKey);
    const url = `/v1/users/${userId}/full`;
    const etag = (await api.call('GET', url, key)).headers.etag as string;
    expect((await api.call('GET', url, key, undefined, { 'if-none-match': `"stale", W/${etag}` })).statusCode).toBe(304);
    expect((await api.call('GET', url, key, undefined, { 'if-none-match': '*' })).statusCode).toBe(304);
    expect((await api.call('GET', url, key, undefined, { 'if-none-match': '"stale"' })).statusCode).toBe(200);
    // W/ is a prefix, not a letter pair to drop from anywhere in the tag.
    const inside = `${etag.slice(0, 3)}W/${etag.slice(3)}`;
    expect((await api.call('GET', url, key, undefined, { 'if-none-match': inside })).statusCode).toBe(200);
  });

  it("keeps a route's own ETag and Cache-Control", async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    const response = await api.call('GET', '/v1/test/own-headers', key, undefined, { 'if-none-match': '"own"' });
    expect(response.headers.etag).toBe('"own"');
    expect(response.headers['cache-control']).toBe('public, max-age=60');
    // Its tag is the route's to honour: the cache neither computes nor compares one.
    expect(response.statusCode).toBe(200);
    const untagged = await api.call('GET', '/v1/test/own-cache-control', key);
    expect(untagged.headers.etag).toMatch(/^"/);
    expect(untagged.headers['cache-control']).toBe('public, max-age=60');
  });

  it('tags a binary body too, and leaves a streamed one alone (its bytes are not known before it is sent)', async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    const binary = await api.call('GET', '/v1/test/buffer', key);
    expect(binary.headers.etag).toMatch(/^"/);
    expect((await api.call('GET', '/v1/test/buffer', key, undefined, { 'if-none-match': binary.headers.etag as string })).statusCode).toBe(304);
    const streamed = await api.call('GET', '/v1/test/stream', key);
    expect(streamed.body).toBe('streamed');
    expect(streamed.headers.etag).toBeUndefined();
  });

  it('puts no ETag on writes, errors or /metrics', async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    const created = await api.call('POST', '/v1/users', key, { email: 'etag@example.com', username: 'etag' });
    expect(created.statusCode).toBe(201);
    expect(created.headers.etag).toBeUndefined();
    const missing = await api.call('GET', '/v1/users/999999999/full', key);
    expect(missing.statusCode).toBe(404);
    expect(missing.headers.etag).toBeUndefined();
    const updated = await api.call('PUT', `/v1/users/${created.json().data.id}/profile`, key, { bio: 'no tag' });
    expect(updated.statusCode).toBe(200);
    expect(updated.headers.etag).toBeUndefined();
    const metrics = await api.call('GET', '/metrics', adminKey);
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers.etag).toBeUndefined();
  });
});

describe('server-side cache of the analytics GETs', () => {
  const url = '/v1/analytics/active-users?from=2024-01-01&to=2024-01-07';

  it('answers a repeated analytics GET from the cache with only the data-version query, per tenant, until an ETL run commits', async () => {
    const owner = await tenantWithUser(api.call, adminKey, 'Owner');
    const other = await tenantWithUser(api.call, adminKey, 'Other');
    const first = await api.call('GET', url, owner.key);
    expect(first.statusCode).toBe(200);
    expect(first.headers['x-cache']).toBe('miss');
    const second = await database.queries.measure(() => api.call('GET', url, owner.key));
    expect(second.result.headers['x-cache']).toBe('hit');
    expect(second.statements).toEqual(['select max("id") as "id" from "etl_run"']);
    expect(second.result.body).toBe(first.body);
    expect(second.result.headers['content-type']).toBe(first.headers['content-type']);
    expect(second.result.headers.etag).toBe(first.headers.etag);
    expect((await api.call('GET', url, other.key)).headers['x-cache']).toBe('miss');
    expect((await api.call('GET', url.replace('07', '08'), owner.key)).headers['x-cache']).toBe('miss');
    await database.admin.insertInto('etl_run').values({ pipeline: 'test' }).execute();
    expect((await api.call('GET', url, owner.key)).headers['x-cache']).toBe('miss');
    expect((await api.call('GET', url, owner.key)).headers['x-cache']).toBe('hit');
  });

  it('finds a summary in the query cache under a URL the response cache has not seen: the same parameters in another order', async () => {
    const owner = await tenantWithUser(api.call, adminKey, 'Reordered');
    const first = await api.call('GET', url, owner.key);
    const queryHits = api.caches.metrics.layer('query').hits;
    const reordered = await database.queries.measure(() => api.call('GET', '/v1/analytics/active-users?to=2024-01-07&from=2024-01-01', owner.key));
    expect(reordered.result.headers['x-cache']).toBe('miss');
    expect(reordered.result.body).toBe(first.body);
    // The response cache's and the query cache's data-version reads; no tenant transaction.
    expect(reordered.statements).toEqual(Array(2).fill('select max("id") as "id" from "etl_run"'));
    expect(api.caches.metrics.layer('query').hits).toBe(queryHits + 1);
  });

  it('serves again from the database after an analytics write through the invalidation', async () => {
    const { tenantId, key } = await tenantWithUser(api.call, adminKey);
    await api.call('GET', url, key);
    expect((await api.call('GET', url, key)).headers['x-cache']).toBe('hit');
    await api.caches.invalidation.analyticsWrite([tenantId], async () => undefined);
    expect((await api.call('GET', url, key)).headers['x-cache']).toBe('miss');
  });

  it('serves again from the database after a user delete, whose active days cascade with the user', async () => {
    const { userId, key } = await tenantWithUser(api.call, adminKey);
    await api.call('GET', url, key);
    expect((await api.call('GET', url, key)).headers['x-cache']).toBe('hit');
    expect((await api.call('DELETE', `/v1/users/${userId}`, key)).statusCode).toBe(204);
    const queryMisses = api.caches.metrics.layer('query').misses;
    expect((await api.call('GET', url, key)).headers['x-cache']).toBe('miss');
    // The summary under it was dropped too, not served again from the query cache.
    expect(api.caches.metrics.layer('query').misses).toBe(queryMisses + 1);
  });

  it("keys a tenant's responses under its response prefix, which an analytics write evicts", async () => {
    const { tenantId, key } = await tenantWithUser(api.call, adminKey);
    await api.call('GET', url, key);
    const store = api.caches.store as MemoryStore;
    const prefix = `${api.caches.keys.namespace}:response:${tenantId}:`;
    await eventually(() => store.keys().some((stored) => stored.startsWith(prefix)), 'the response stored under its prefix');
    await api.caches.invalidation.analyticsWrite([tenantId], async () => undefined);
    expect(store.keys().filter((stored) => stored.startsWith(prefix))).toEqual([]);
  });

  it.each(backends)('keeps only a text body: bytes are answered by the handler every time (%s)', async (backend) => {
    let calls = 0;
    const caches = await openCaches(backend, keyPrefix('api-bytes'), database);
    const bytesApi = await cachedApi(database, caches, (app) => {
      app.get('/v1/analytics/bytes', async (_request, reply) => {
        calls += 1;
        return reply.type('application/octet-stream').send(Buffer.from('analytics bytes'));
      });
    });
    const { key } = await tenantWithUser(bytesApi.call, adminKey);
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const response = await bytesApi.call('GET', '/v1/analytics/bytes', key);
      expect(response.rawPayload.toString()).toBe('analytics bytes');
      expect(response.headers['x-cache']).toBe('miss');
    }
    expect(calls).toBe(3);
    expect(caches.metrics.layer('response').sets).toBe(0);
  });

  it('never keeps a failed response', async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const response = await api.call('GET', '/v1/analytics/failing', key);
      expect(response.statusCode).toBe(503);
      expect(response.headers['x-cache']).toBe('miss');
    }
    expect(failing.calls).toBe(2);
  });

  it('keeps nothing for a caller that is not a tenant: the key has no tenant to be scoped by', async () => {
    expect((await api.call('GET', '/v1/analytics/public', null)).json()).toEqual({ calls: 1 });
    expect((await api.call('GET', '/v1/analytics/public', null)).json()).toEqual({ calls: 2 });
  });

  it('leaves other GETs to their handlers', async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    const listed = await api.call('GET', '/v1/users', key);
    expect(listed.statusCode).toBe(200);
    expect(listed.headers['x-cache']).toBeUndefined();
  });
});
