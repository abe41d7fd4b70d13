import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { beforeAll, describe, expect, inject, it, onTestFinished } from 'vitest';
import { createCaches } from '../../src/caching/index.js';
import { withDatabaseName } from '../../src/db/database.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { faultyLink, type FaultyLink } from './proxy.js';
import {
  adminKeyFor, cacheConfig, cachedApi, eventually, keyPrefix, privateRedis, redisReachable, redisServerInstalled,
  SHARED_REDIS_URL, tenantWithUser, warnings, type CachedApi,
} from './support.js';

// Two instances of one deployment, a writer and a reader: one database, one Redis, one key prefix.
// Each fault sits on one link only (a TCP proxy in front of Redis or of the reader's version feed:
// its LISTEN connection, or on a cluster its poll connections to the coordinator and each worker),
// or is a real Redis restart; the rule checked is the README's: once a write has answered, no
// instance serves what it replaced, and no instance accepts a key once its revoke has.
const LEASE_MS = 1000;
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

async function instance(prefix: string, links: { redisUrl?: string; listenUrl?: string; nodeUrl?: (url: string) => string } = {}): Promise<Instance> {
  const caches = createCaches({
    config: cacheConfig('redis', prefix, { REDIS_URL: links.redisUrl ?? SHARED_REDIS_URL, REDIS_TIMEOUT_MS: '50' }),
    database,
    logger: warnings(),
    retryAfterMs: 20,
    // A lease long enough that a busy test machine does not lapse it between two reads.
    heartbeatMs: 50,
    leaseMs: LEASE_MS,
    listenUrl: links.listenUrl,
    nodeUrl: links.nodeUrl,
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

/**
 * A proxy in front of each server the reader's versions come from: the one server, or the
 * coordinator and every worker of a cluster (pg_dist_node's addresses, mapped through `nodeUrl`).
 */
async function feedLinks() {
  const [, ...workers] = inject('servers').urls;
  const listen = await faultyLink(database.url);
  const byAddress = new Map<string, FaultyLink>();
  for (const worker of workers) byAddress.set(new URL(worker).host, await faultyLink(withDatabaseName(worker, database.name)));
  const nodeUrl = (url: string) => {
    const link = byAddress.get(new URL(url).host);
    if (!link) throw new Error(`no proxy in front of ${url}`);
    const proxied = new URL(url);
    proxied.host = new URL(link.url).host;
    return proxied.toString();
  };
  /** Every link, or the one to the worker that holds the tenant's versions. */
  const select = async (which: 'every node' | 'the tenant\'s worker', tenantId: number): Promise<FaultyLink[]> => {
    if (which === 'every node') return [listen, ...byAddress.values()];
    const { rows: [node] } = await sql<{ address: string }>`select n.nodename || ':' || n.nodeport as address
      from pg_dist_placement p join pg_dist_node n using (groupid)
      where p.shardid = get_shard_id_for_distribution_column('cache_version', ${tenantId}::bigint)`.execute(database.admin);
    return [byAddress.get(node!.address)!];
  };
  return { listenUrl: listen.url, nodeUrl, select };
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

  // On a cluster the reader polls every node; deaf to one worker, it is deaf.
  const feedFaults = (['stall', 'cut'] as const).flatMap((fault) => (onCitus() ? ['every node', 'the tenant\'s worker'] as const : ['every node'] as const)
    .map((links) => ({ fault, links, link: onCitus() ? `poll links to ${links}` : 'LISTEN link' })));
  it.each(feedFaults)('reader\'s $link $fault: the reader serves nothing from its caches until it hears invalidations again, and never the old value', async ({ fault, links: which }) => {
    const prefix = keyPrefix('coherence');
    const links = await feedLinks();
    const writer = await instance(prefix);
    const reader = await instance(prefix, { listenUrl: links.listenUrl, nodeUrl: links.nodeUrl });
    const { tenantId, key, userId, second } = await warmedPair(writer, reader);
    const faulty = await links.select(which, tenantId);
    for (const link of faulty) link[fault]();
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
    for (const link of faulty) link.heal();
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

  it(`a commit whose writer died before telling any cache (no write mark, no Redis bump) retires the cached profile on every instance within one lease (${LEASE_MS} ms)`, async () => {
    const prefix = keyPrefix('coherence');
    const writer = await instance(prefix);
    const reader = await instance(prefix);
    const { tenantId, key, userId } = await warmedPair(writer, reader);
    await cachedAgain(writer, key, userId, 'first');
    // The writer's transaction, committed; the process then dies before its cache step.
    await withTenant(database, { tenantId }, (trx) => new UserRepository(trx).putProfile(userId, { bio: 'second' }));
    const committed = performance.now();
    for (const api of [reader, writer]) {
      // Reads may find the old bio until the feed has learned the commit (a notification on a
      // server, the next poll on a cluster), and none that starts a lease after the commit does.
      let lastOld = Number.NEGATIVE_INFINITY;
      await eventually(async () => {
        const started = performance.now();
        if ((await profileRead(api, key, userId)).bio === 'second') return true;
        lastOld = started;
        return false;
      }, 'the commit to be heard');
      expect(lastOld - committed).toBeLessThan(LEASE_MS);
      await cachedAgain(api, key, userId, 'second');
    }
  });
});
