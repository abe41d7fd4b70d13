import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { DatabaseVersions } from '../../src/caching/database-versions.js';
import { CacheKeys } from '../../src/caching/keys.js';
import { CacheMetrics } from '../../src/caching/metrics.js';
import { reconnectDelay, redisClientOptions, RedisStore, type RedisStoreOptions } from '../../src/caching/redis-store.js';
import { freePort, keyPrefix, privateRedis, redisReachable, redisServerInstalled, SHARED_REDIS_URL } from './support.js';

// RedisStore's own rules, on a store built here around versions that are always heard (PostgreSQL's
// part is DatabaseVersions', tested on its own): how its clients connect, when it leaves Redis alone,
// when it replays a lost bump, and how often it says so.

const MESSAGE = 'cache: Redis is unavailable or slow; serving from the database until it answers again';

interface Logged {
  err: unknown;
  message: string;
}

function heardVersions(ready = true, outlasted = { count: 0 }): DatabaseVersions {
  const versions = {
    tag: () => Promise.resolve('p1'),
    ready: () => Promise.resolve(ready),
    outlast: () => {
      outlasted.count += 1;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  return versions as unknown as DatabaseVersions;
}

function openStore(options: Partial<RedisStoreOptions> = {}) {
  const logged: Logged[] = [];
  const metrics = new CacheMetrics('redis');
  const keys = new CacheKeys(keyPrefix('rules'));
  const outlasted = { count: 0 };
  const store = new RedisStore({
    url: SHARED_REDIS_URL,
    keys,
    metrics,
    logger: { warn: (details, message) => logged.push({ err: (details as { err: unknown }).err, message }) },
    timeoutMs: 500,
    warnIntervalMs: 10_000,
    nearCacheMax: 0,
    versionTtlSeconds: 60,
    versions: heardVersions(true, outlasted),
    ...options,
  });
  onTestFinished(() => store.close());
  const scope = keys.userScope(1, 1);
  const entry = { base: keys.value('profile', 1, 1), scopes: [scope], layer: 'query' as const, ttlSeconds: 60 };
  return { store, logged, metrics, keys, scope, entry, outlasted };
}

function direct(url = SHARED_REDIS_URL): Redis {
  const client = new Redis(url);
  onTestFinished(() => client.disconnect());
  return client;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls a bounded number of times: the clock may be frozen, so no deadline by Date. */
async function within(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let poll = 0; poll < 80; poll += 1) {
    if (await check()) return;
    await sleep(25);
  }
  throw new Error(`gave up waiting for ${what}`);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('reconnectDelay', () => {
  it('waits 100 ms more for each attempt, at most 2 s', () => {
    expect([1, 2, 3, 10, 19, 20, 21, 100].map(reconnectDelay)).toEqual([100, 200, 300, 1000, 1900, 2000, 2000, 2000]);
  });
});

describe('redisClientOptions', () => {
  it('gives a connection ten command timeouts to open, and never less than a second', () => {
    expect(redisClientOptions(50).command.connectTimeout).toBe(1000);
    expect(redisClientOptions(100).command.connectTimeout).toBe(1000);
    expect(redisClientOptions(300).command.connectTimeout).toBe(3000);
    expect(redisClientOptions(300).subscriber.connectTimeout).toBe(3000);
    expect(redisClientOptions(300).command.commandTimeout).toBe(300);
  });

  it('reconnects both clients by the same back-off', () => {
    const { command, subscriber } = redisClientOptions(100);
    for (const options of [command, subscriber]) {
      expect([1, 5, 20, 40].map((attempt) => options.retryStrategy!(attempt))).toEqual([100, 500, 2000, 2000]);
    }
  });
});

describe.skipIf(!redisReachable)('the store\'s Redis clients', () => {
  it('fail a command issued before the connection is ready instead of queueing it', async () => {
    const client = new Redis(SHARED_REDIS_URL, redisClientOptions(500).command);
    onTestFinished(() => client.disconnect());
    await expect(client.get('strata-never-set')).rejects.toThrow();
  });

  it('leave resubscribing after a reconnect to the store', async () => {
    const channel = keyPrefix('resubscribe');
    const subscriber = new Redis(SHARED_REDIS_URL, redisClientOptions(500).subscriber);
    onTestFinished(() => subscriber.disconnect());
    const id = await subscriber.client('ID');
    await subscriber.subscribe(channel);
    const admin = direct();
    const subscribers = async () => (await admin.pubsub('NUMSUB', channel))[1];
    expect(await subscribers()).toBe(1);
    const reconnected = new Promise((resolve) => subscriber.once('ready', resolve));
    await admin.client('KILL', 'ID', String(id));
    await reconnected;
    // Commands run in order on the connection: once this answers, any resubscription has too.
    await subscriber.call('PING');
    expect(await subscribers()).toBe(0);
  });

  it.skipIf(!redisServerInstalled)('send nothing on connecting that a Redis before 7.2 rejects', async () => {
    const redis = await privateRedis();
    const { command, subscriber } = redisClientOptions(500);
    const clients = [new Redis(redis.url, command), new Redis(redis.url, subscriber)];
    onTestFinished(() => clients.forEach((client) => client.disconnect()));
    await Promise.all(clients.map((client) => new Promise((resolve) => client.once('ready', resolve))));
    await clients[1]!.call('PING');
    expect(await clients[0]!.info('errorstats')).not.toMatch(/errorstat_/);
  });
});

describe.skipIf(!redisReachable)('RedisStore', () => {
  it('is not ready while the database versions are not heard, though Redis is', async () => {
    const { store } = openStore({ versions: heardVersions(false) });
    expect(await store.ready(2000)).toBe(false);
    const heard = openStore();
    expect(await heard.store.ready(2000)).toBe(true);
    // Asked again once connected: it answers from the clients' state, not from a new connection.
    expect(await heard.store.ready(50)).toBe(true);
  });

  it('warns of a Redis it cannot connect to before any request asks it', async () => {
    const { logged } = openStore({ url: `redis://127.0.0.1:${await freePort()}` });
    await within(() => Promise.resolve(logged.length > 0), 'a warning');
    expect(logged[0]).toEqual({ err: expect.stringMatching(/ECONNREFUSED/), message: MESSAGE });
  });

  it('serves a value it read or wrote from its own memory while the version holds, without fetching it again', async () => {
    const { store, entry } = openStore({ nearCacheMax: 10 });
    expect(await store.ready(2000)).toBe(true);
    const admin = direct();
    const { version } = await store.read(entry);
    expect(await store.write(entry, version!, { bio: 'written' })).toBe(true);
    await admin.del(`${entry.base}:v${version}`);
    expect(await store.read(entry)).toEqual({ version, value: { bio: 'written' } });
    store.dropNearCopies();
    await admin.set(`${entry.base}:v${version}`, JSON.stringify({ bio: 'stored' }), 'EX', 60);
    expect(await store.read(entry)).toEqual({ version, value: { bio: 'stored' } });
    await admin.del(`${entry.base}:v${version}`);
    expect(await store.read(entry)).toEqual({ version, value: { bio: 'stored' } });
    expect(store.nearKeys()).toEqual([entry.base]);
  });

  it('warns once per interval while Redis cannot be reached, again at exactly the interval, with the error\'s message', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-01-01T00:00:00Z').getTime();
    vi.setSystemTime(start);
    const { store, logged, entry } = openStore({ url: `redis://127.0.0.1:${await freePort()}`, retryAfterMs: 0 });
    expect(await store.read(entry)).toEqual({});
    expect(logged).toHaveLength(1);
    vi.setSystemTime(start + 9_999);
    expect(await store.read(entry)).toEqual({});
    expect(logged).toHaveLength(1);
    vi.setSystemTime(start + 10_000);
    expect(await store.read(entry)).toEqual({});
    expect(logged).toHaveLength(2);
    for (const { err, message } of logged) {
      expect(message).toBe(MESSAGE);
      expect(err).toMatch(/^(connect ECONNREFUSED|Redis connection is)/);
    }
  });

  it('leaves a healthy Redis alone for a second after a failed read by default', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-01-01T00:00:00Z').getTime();
    vi.setSystemTime(start);
    const { store, metrics, entry } = openStore();
    expect(await store.ready(2000)).toBe(true);
    const { version } = await store.read(entry);
    expect(version).toMatch(/:p1$/);
    const admin = direct();
    const valueKey = `${entry.base}:v${version}`;
    await admin.set(valueKey, '{not json', 'EX', 60);
    expect(await store.read(entry)).toEqual({});
    expect(metrics.layer('query').errors).toBe(1);
    await admin.set(valueKey, JSON.stringify({ bio: 'stored' }), 'EX', 60);
    vi.setSystemTime(start + 999);
    expect(await store.read(entry)).toEqual({});
    expect(metrics.layer('query').errors).toBe(2);
    vi.setSystemTime(start + 1000);
    expect(await store.read(entry)).toEqual({ version, value: { bio: 'stored' } });
    expect(metrics.layer('query').errors).toBe(2);
  });

  it('replays a lost bump on its own, but not before Redis is to be asked again', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-01-01T00:00:00Z').getTime();
    vi.setSystemTime(start);
    const { store, keys, scope, metrics, outlasted } = openStore({ retryAfterMs: 60_000 });
    expect(await store.ready(2000)).toBe(true);
    const admin = direct();
    // A string where the write's mark (a set) goes: marking the write fails, and Redis is left alone.
    await admin.set(keys.intent(scope), 'not a set', 'EX', 60);
    const intent = await store.beginWrite([keys.user(1, 1)]);
    expect(metrics.layer('query').errors).toBe(1);
    await admin.del(keys.intent(scope));
    await store.endWrite(intent);
    expect(metrics.layer('query').errors).toBe(2);
    // Other instances still find the old version in Redis: the writer answers once they have heard the commit.
    expect(outlasted.count).toBe(1);
    // Redis answers, but several replay rounds pass without asking it.
    await sleep(700);
    expect(await admin.get(scope)).toBeNull();
    vi.setSystemTime(start + 60_000);
    await within(async () => (await admin.get(scope)) !== null, 'the bump to be replayed');
    // Replayed without a request waiting on it: no layer counts an error.
    expect(metrics.layer('query').errors).toBe(2);
  });

  it('counts no error for a replay that fails while no request waits on it', async () => {
    const { store, keys, scope, metrics, outlasted } = openStore({ retryAfterMs: 0 });
    expect(await store.ready(2000)).toBe(true);
    const admin = direct();
    await store.endWrite(await store.beginWrite([keys.user(1, 1)]));
    // A bump that landed needs no wait.
    expect(outlasted.count).toBe(0);
    const intent = await store.beginWrite([keys.user(1, 1)]);
    // The mark turned into a string: lifting it fails, so the bump is kept and replayed.
    await admin.set(keys.intent(scope), 'not a set', 'EX', 60);
    await store.endWrite(intent);
    expect(metrics.layer('query').errors).toBe(1);
    expect(outlasted.count).toBe(1);
    const bumped = await admin.get(scope);
    await within(async () => (await admin.get(scope)) !== bumped, 'a replay to be tried');
    await sleep(300);
    expect(metrics.layer('query').errors).toBe(1);
    // And it is tried again until it lands.
    const tried = await admin.get(scope);
    await admin.del(keys.intent(scope));
    await within(async () => (await admin.get(scope)) !== tried && (await admin.exists(keys.intent(scope))) === 0, 'the replay to land');
    expect(metrics.layer('query').errors).toBe(1);
  });

  it.skipIf(!redisServerInstalled)('drops its near copies and subscribes again when its subscriber reconnects', async () => {
    const redis = await privateRedis();
    const { store, entry, keys } = openStore({ url: redis.url, nearCacheMax: 10 });
    expect(await store.ready(2000)).toBe(true);
    const { version } = await store.read(entry);
    await store.write(entry, version!, { bio: 'near' });
    expect(store.nearKeys()).toEqual([entry.base]);
    const admin = direct(redis.url);
    const subscribers = async () => (await admin.pubsub('NUMSUB', keys.channel))[1];
    expect(await subscribers()).toBe(1);
    // Messages sent while it was away are lost: what it held may have been invalidated meanwhile.
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await within(async () => (await subscribers()) === 1 && store.nearKeys().length === 0, 'the subscriber to be back');
    expect(store.nearKeys()).toEqual([]);
  });
});
