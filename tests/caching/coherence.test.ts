import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createCaches } from '../../src/caching/index.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { faultyLink } from './proxy.js';
import {
  adminKeyFor, cacheConfig, cachedApi, eventually, keyPrefix, privateRedis, redisReachable, redisServerInstalled,
  SHARED_REDIS_URL, tenantWithUser, warnings, type CachedApi,
} from './support.js';

// Two instances of one deployment, a writer and a reader: one database, one Redis, one key prefix.
// Each fault sits on one link only (a TCP proxy in front of Redis or of the reader's LISTEN
// connection), or is a real Redis restart; the rule checked is the README's: once a write has
// answered, no instance serves what it replaced, and no instance accepts a key once its revoke has.
let database: TestDatabase;
let adminKey: string;

beforeAll(async () => {
  if (!redisReachable) return;
  database = await migratedDatabase();
  adminKey = await adminKeyFor(database);
});

interface Instance extends CachedApi {
  close(): Promise<void>;
}

async function instance(prefix: string, links: { redisUrl?: string; listenUrl?: string } = {}): Promise<Instance> {
  const caches = createCaches({
    config: cacheConfig('redis', prefix, { REDIS_URL: links.redisUrl ?? SHARED_REDIS_URL, REDIS_TIMEOUT_MS: '50' }),
    database,
    logger: warnings(),
    retryAfterMs: 20,
    // A lease long enough that a busy test machine does not lapse it between two reads.
    heartbeatMs: 50,
    leaseMs: 1000,
    listenUrl: links.listenUrl,
  });
  onTestFinished(() => caches.close());
  if (!(await caches.ready(5000))) throw new Error('the instance\'s caches did not become ready');
  const api = await cachedApi(database, caches);
  return { ...api, close: () => caches.close() };
}

/** The profile's bio as the instance serves it, and whether it came from its caches (no query at all). */
async function profileRead(api: CachedApi, key: string, userId: number) {
  const read = await database.queries.measure(() => api.call('GET', `/v1/users/${userId}/full`, key));
  expect(read.result.statusCode).toBe(200);
  return { bio: read.result.json().data.profile.bio as string, cached: read.queries === 0 };
}

/** The status a request with the key gets, and whether its session came from the instance's caches. */
async function keyUse(api: CachedApi, key: string) {
  const before = api.caches.metrics.layer('session').hits;
  const response = await api.call('GET', '/v1/api-keys', key);
  return { status: response.statusCode, cached: api.caches.metrics.layer('session').hits > before };
}

/** A writer and a reader, the reader holding the user's profile and a second key's session in its caches. */
async function warmedPair(writer: Instance, reader: Instance) {
  const { tenantId, key, userId } = await tenantWithUser(writer.call, adminKey);
  const second = (await writer.call('POST', '/v1/api-keys', key, { name: 'second' })).json().data as { id: number; key: string };
  await cachedAgain(reader, key, userId, 'first');
  await eventually(async () => {
    const use = await keyUse(reader, second.key);
    expect(use.status).toBe(200);
    return use.cached;
  }, 'the reader to cache the second key\'s session');
  return { tenantId, key, userId, second };
}

/**
 * Polls until the instance serves the profile from its caches, checking that every read on the way
 * shows the expected bio. Polled rather than asserted once: on a starved machine a late heartbeat
 * sends a read to the database, which is the rule working, not a failure.
 */
async function cachedAgain(api: CachedApi, key: string, userId: number, bio: string): Promise<void> {
  await eventually(async () => {
    const read = await profileRead(api, key, userId);
    expect(read.bio).toBe(bio);
    return read.cached;
  }, `the instance to serve "${bio}" from its caches`);
}

describe.skipIf(!redisReachable)('cache coherence under faults, two instances', () => {
  it.each(['stall', 'cut'] as const)('writer\'s Redis link %s: the reader serves the new profile and refuses the revoked key as soon as the writer answers', async (fault) => {
    const prefix = keyPrefix('coherence');
    const link = await faultyLink(SHARED_REDIS_URL);
    const writer = await instance(prefix, { redisUrl: link.url });
    const reader = await instance(prefix);
    const { key, userId, second } = await warmedPair(writer, reader);
    link[fault]();
    expect((await writer.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
    for (let read = 0; read < 20; read += 1) expect((await profileRead(reader, key, userId)).bio).toBe('second');
    expect((await writer.call('DELETE', `/v1/api-keys/${second.id}`, key)).statusCode).toBe(204);
    for (let use = 0; use < 6; use += 1) expect((await keyUse(reader, second.key)).status).toBe(401);
    link.heal();
    await cachedAgain(reader, key, userId, 'second');
    expect((await keyUse(reader, second.key)).status).toBe(401);
  });

  it.each(['stall', 'cut'] as const)('reader\'s Redis link %s: the reader serves the new profile from the database and refuses the revoked key', async (fault) => {
    const prefix = keyPrefix('coherence');
    const link = await faultyLink(SHARED_REDIS_URL);
    const writer = await instance(prefix);
    const reader = await instance(prefix, { redisUrl: link.url });
    const { key, userId, second } = await warmedPair(writer, reader);
    link[fault]();
    expect((await writer.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
    expect((await writer.call('DELETE', `/v1/api-keys/${second.id}`, key)).statusCode).toBe(204);
    for (let read = 0; read < 10; read += 1) {
      expect(await profileRead(reader, key, userId)).toEqual({ bio: 'second', cached: false });
      expect((await keyUse(reader, second.key)).status).toBe(401);
    }
    link.heal();
    await cachedAgain(reader, key, userId, 'second');
  });

  it.each(['stall', 'cut'] as const)('reader\'s LISTEN link %s: the reader serves nothing from its caches until it hears invalidations again, and never the old value', async (fault) => {
    const prefix = keyPrefix('coherence');
    const link = await faultyLink(database.url);
    const writer = await instance(prefix);
    const reader = await instance(prefix, { listenUrl: link.url });
    const { key, userId, second } = await warmedPair(writer, reader);
    link[fault]();
    expect((await writer.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
    expect((await writer.call('DELETE', `/v1/api-keys/${second.id}`, key)).statusCode).toBe(204);
    expect((await profileRead(reader, key, userId)).bio).toBe('second');
    expect((await keyUse(reader, second.key)).status).toBe(401);
    // Deaf to invalidations, the reader stops trusting even what it cached after the write.
    await eventually(async () => {
      const read = await profileRead(reader, key, userId);
      expect(read.bio).toBe('second');
      return !read.cached;
    }, 'the reader to stop serving from its caches');
    expect((await writer.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'third' })).statusCode).toBe(200);
    for (let read = 0; read < 5; read += 1) expect(await profileRead(reader, key, userId)).toEqual({ bio: 'third', cached: false });
    expect(reader.caches.metrics.layer('query').errors).toBeGreaterThan(0);
    link.heal();
    await cachedAgain(reader, key, userId, 'third');
    expect((await keyUse(reader, second.key)).status).toBe(401);
  });

  it.skipIf(!redisServerInstalled).each([
    { stop: 'SHUTDOWN SAVE', restart: 'from its saved data' },
    { stop: 'SIGTERM without saving', restart: 'empty' },
  ])('Redis stopped ($stop), profile written and key revoked, writer killed, Redis restarted $restart: the reader never serves the old value nor accepts the key', async ({ restart }) => {
    const redis = await privateRedis();
    const prefix = keyPrefix('coherence');
    const writer = await instance(prefix, { redisUrl: redis.url });
    const reader = await instance(prefix, { redisUrl: redis.url });
    const { key, userId, second } = await warmedPair(writer, reader);
    if (restart === 'empty') await redis.stop();
    else await redis.shutdownSave();
    expect((await writer.call('PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).statusCode).toBe(200);
    expect((await writer.call('DELETE', `/v1/api-keys/${second.id}`, key)).statusCode).toBe(204);
    // Killed: the bumps it kept to replay go with it.
    await writer.close();
    await redis.start();
    await eventually(async () => {
      const read = await profileRead(reader, key, userId);
      expect(read.bio).toBe('second');
      expect((await keyUse(reader, second.key)).status).toBe(401);
      return read.cached;
    }, 'the reader to cache from the restarted Redis');
  });

  it('a commit whose writer died before telling any cache (no write mark, no Redis bump) retires the cached profile on every instance', async () => {
    const prefix = keyPrefix('coherence');
    const writer = await instance(prefix);
    const reader = await instance(prefix);
    const { tenantId, key, userId } = await warmedPair(writer, reader);
    await cachedAgain(writer, key, userId, 'first');
    // The writer's transaction, committed; the process then dies before its cache step.
    await withTenant(database, { tenantId }, (trx) => new UserRepository(trx).putProfile(userId, { bio: 'second' }));
    for (const api of [reader, writer]) {
      await eventually(async () => (await profileRead(api, key, userId)).bio === 'second', 'the commit to be heard');
      await cachedAgain(api, key, userId, 'second');
    }
  });
});
