import { Redis } from 'ioredis';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { DatabaseVersions } from '../../src/caching/database-versions.js';
import { CacheKeys } from '../../src/caching/keys.js';
import { CacheMetrics } from '../../src/caching/metrics.js';
import { RedisStore, type RedisStoreOptions } from '../../src/caching/redis-store.js';
import { faultyLink } from './proxy.js';
import { eventually, freePort, keyPrefix, privateRedis, redisReachable, redisServerInstalled, SHARED_REDIS_URL } from './support.js';

// RedisStore's guards: what it does while Redis is left alone or unreachable, how a lost bump is
// replayed (by the next read, or by its timer alone) and stops being, and its clients' edge cases.
// PostgreSQL's part is stubbed as always heard: DatabaseVersions has tests of its own.

interface Logged {
  err: string;
  message: string;
}

const heard = {
  tag: () => Promise.resolve('p1'),
  ready: () => Promise.resolve(true),
  outlast: () => Promise.resolve(),
  close: () => Promise.resolve(),
} as unknown as DatabaseVersions;

function openStore(options: Partial<RedisStoreOptions> = {}) {
  const logged: Logged[] = [];
  const metrics = new CacheMetrics('redis');
  const keys = new CacheKeys(keyPrefix('guards'));
  const store = new RedisStore({
    url: SHARED_REDIS_URL,
    keys,
    metrics,
    logger: { warn: (details, message) => logged.push({ err: String((details as { err: unknown }).err), message }) },
    // Long enough that no command times out while fake timers hold the clock.
    timeoutMs: 60_000,
    warnIntervalMs: 0,
    nearCacheMax: 0,
    versionTtlSeconds: 60,
    retryAfterMs: 0,
    versions: heard,
    ...options,
  });
  onTestFinished(() => store.close());
  const scope = keys.userScope(1, 1);
  const entry = { base: keys.value('profile', 1, 1), scopes: [scope], layer: 'query' as const, ttlSeconds: 60 };
  return { store, logged, metrics, keys, scope, entry, intentKey: keys.intent(scope) };
}

function direct(url = SHARED_REDIS_URL): Redis {
  const client = new Redis(url);
  onTestFinished(() => client.disconnect());
  return client;
}

/** Fakes only the timers (the replay's among them), so a test decides when a replay round runs. */
function holdTimers(): void {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
}

/**
 * Ends a write whose bump cannot land (a string where its mark, a set, goes), with the timers held:
 * the bump waits for a replay. Returns a client of the test's own on the same Redis.
 */
async function loseBump(store: RedisStore, keys: CacheKeys, intentKey: string): Promise<Redis> {
  const admin = direct();
  const intent = await store.beginWrite([keys.user(1, 1)]);
  await admin.set(intentKey, 'not a set', 'EX', 60);
  holdTimers();
  await store.endWrite(intent);
  return admin;
}

/** vi.waitFor polls on real timers, which the fake ones leave alone. */
const until = (check: () => Promise<boolean> | boolean) => vi.waitFor(async () => expect(await check()).toBe(true), { timeout: 10_000, interval: 25 });

/** Lets every promise settled so far run its callbacks: setImmediate is not among the fakes. */
const settled = () => new Promise((resolve) => setImmediate(resolve));

afterEach(() => {
  vi.useRealTimers();
});

describe.skipIf(!redisReachable)('RedisStore guards', () => {
  it('answers a value missing in Redis with its version alone, and counts no error', async () => {
    const { store, entry, metrics } = openStore();
    expect(await store.ready(5000)).toBe(true);
    const { version } = await store.read(entry);
    expect(version).toMatch(/.:p1$/);
    expect(await store.read(entry)).toStrictEqual({ version });
    expect(metrics.layer('query').errors).toBe(0);
  });

  it('creates a lost version afresh, so a value stored under the old one is never served again', async () => {
    const { store, entry, scope } = openStore();
    expect(await store.ready(5000)).toBe(true);
    const first = await store.read(entry);
    expect(await store.write(entry, first.version!, { bio: 'old' })).toBe(true);
    // An expired version key, or a Redis restarted without it.
    await direct().del(scope);
    const second = await store.read(entry);
    expect(second.version).toMatch(/.:p1$/);
    expect(second.version).not.toBe(first.version);
    expect(second).toStrictEqual({ version: second.version });
  });

  it('while Redis is left alone after a failure, a write stores nothing, not even near, and returns false; a write begun marks nothing', async () => {
    const { store, entry, keys, intentKey } = openStore({ retryAfterMs: 60_000, nearCacheMax: 10 });
    expect(await store.ready(5000)).toBe(true);
    const admin = direct();
    const { version } = await store.read(entry);
    const valueKey = `${entry.base}:v${version}`;
    await admin.set(valueKey, '{not json', 'EX', 60);
    expect(await store.read(entry)).toEqual({});
    await admin.del(valueKey);
    expect(await store.write(entry, version!, { bio: 'unseen' })).toBe(false);
    expect(await admin.exists(valueKey)).toBe(0);
    expect(store.nearKeys()).toEqual([]);
    await store.beginWrite([keys.user(1, 1)]);
    expect(await admin.exists(intentKey)).toBe(0);
  });

  it('with Redis unreachable, a write counts one error, keeps no near copy and returns false', async () => {
    const { store, entry, metrics } = openStore({ url: `redis://127.0.0.1:${await freePort()}`, nearCacheMax: 10 });
    expect(await store.write(entry, 'v1:p1', { bio: 'unseen' })).toBe(false);
    expect(metrics.layer('query').errors).toBe(1);
    expect(store.nearKeys()).toEqual([]);
  });

  it('replays a lost bump before it reads again, without waiting for its timer', async () => {
    const { store, entry, keys, intentKey } = openStore();
    expect(await store.ready(5000)).toBe(true);
    const admin = direct();
    const before = await store.read(entry);
    const intent = await store.beginWrite([keys.user(1, 1)]);
    // A string where the write's mark (a set) goes: lifting it fails, so the bump is kept.
    await admin.set(intentKey, 'not a set', 'EX', 60);
    holdTimers();
    await store.endWrite(intent);
    await admin.del(intentKey);
    const after = await store.read(entry);
    expect(after.version).toMatch(/.:p1$/);
    expect(after.version).not.toBe(before.version);
  });

  it('answers a read from the database, counting its error, when replaying a lost bump fails first', async () => {
    const { store, keys, intentKey, metrics } = openStore();
    expect(await store.ready(5000)).toBe(true);
    await loseBump(store, keys, intentKey);
    const errors = metrics.layer('session').errors;
    // Another scope, unmarked: only the failed replay keeps this read from Redis.
    const other = { base: keys.value('profile', 1, 2), scopes: [keys.userScope(1, 2)], layer: 'session' as const, ttlSeconds: 60 };
    expect(await store.read(other)).toEqual({});
    expect(metrics.layer('session').errors - errors).toBe(1);
  });

  it('replays a lost bump on its timer alone, warns of a failed round, tries again until it lands, then leaves no timer', async () => {
    const { store, keys, scope, intentKey, logged, metrics } = openStore();
    expect(await store.ready(5000)).toBe(true);
    const admin = await loseBump(store, keys, intentKey);
    const warned = logged.length;
    expect(warned).toBeGreaterThan(0);
    await vi.advanceTimersByTimeAsync(250);
    await until(() => logged.length > warned);
    expect(logged.at(-1)!.err).toMatch(/WRONGTYPE/);
    // The failed round's SET of the version went through; the next round sets another.
    const tried = await admin.get(scope);
    await admin.del(intentKey);
    await vi.advanceTimersByTimeAsync(250);
    await until(async () => (await admin.get(scope)) !== tried);
    // A read waits for the replay in flight to end: then no round is left to run.
    await store.read({ base: keys.value('profile', 1, 1), scopes: [scope], layer: 'query', ttlSeconds: 60 });
    await settled();
    expect(vi.getTimerCount()).toBe(0);
    expect(metrics.layer('query').errors).toBe(1);
  });

  it('while Redis is left alone, a replay round keeps the lost bump without asking Redis, and replays it once the pause is over', async () => {
    const { store, keys, scope, intentKey } = openStore({ retryAfterMs: 60_000 });
    expect(await store.ready(5000)).toBe(true);
    const admin = direct();
    const intent = await store.beginWrite([keys.user(1, 1)]);
    await admin.set(intentKey, 'not a set', 'EX', 60);
    const start = Date.now();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    vi.setSystemTime(start);
    await store.endWrite(intent);
    const before = await admin.get(scope);
    await admin.del(intentKey);
    await vi.advanceTimersByTimeAsync(1000);
    // A round trip of our own after the rounds: a command a round had sent would have landed by now.
    await admin.ping();
    expect(await admin.get(scope)).toBe(before);
    vi.setSystemTime(start + 60_000);
    await vi.advanceTimersByTimeAsync(250);
    await until(async () => (await admin.get(scope)) !== before);
  });

  it('while its connection is down, a replay round sends nothing', async () => {
    const link = await faultyLink(SHARED_REDIS_URL);
    const { store, keys, logged } = openStore({ url: link.url });
    expect(await store.ready(5000)).toBe(true);
    const intent = await store.beginWrite([keys.user(1, 1)]);
    link.cut();
    await eventually(async () => !(await store.ready(50)), 'the cut to be noticed');
    holdTimers();
    await store.endWrite(intent);
    await vi.advanceTimersByTimeAsync(1000);
    await settled();
    // A command issued while disconnected fails at once with this message (no offline queue).
    expect(logged.map(({ err }) => err)).not.toContainEqual(expect.stringMatching(/enableOfflineQueue/));
  });

  it('after close, a replay round in flight is not scheduled again, and ready() is false', async () => {
    const link = await faultyLink(SHARED_REDIS_URL);
    const { store, keys, intentKey, logged } = openStore({ url: link.url });
    expect(await store.ready(5000)).toBe(true);
    await loseBump(store, keys, intentKey);
    const warned = logged.length;
    // The round's commands are held on their way: closing fails them.
    link.stall();
    await vi.advanceTimersByTimeAsync(250);
    await store.close();
    await until(() => logged.length > warned);
    expect(logged.at(-1)!.err).toMatch(/Connection is closed/);
    await settled();
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
    expect(await store.ready(100)).toBe(false);
  });

  it('with the near cache off, drops near copies and handles another instance\'s invalidation without error', async () => {
    const { store, entry, keys, logged } = openStore();
    expect(await store.ready(5000)).toBe(true);
    store.dropNearCopies();
    expect(store.nearKeys()).toEqual([]);
    const admin = direct();
    await admin.publish(keys.channel, JSON.stringify({ origin: 'another instance', evict: [entry.base] }));
    // Messages arrive in order: once this one is warned of, the invalidation was handled.
    await admin.publish(keys.channel, 'not json');
    await eventually(() => logged.length > 0, 'the malformed message to be warned of');
    expect(logged.map(({ err }) => err)).toEqual([expect.stringMatching(/JSON/)]);
  });

  it.skipIf(!redisServerInstalled)('is not ready, and says why, while Redis refuses its subscription', async () => {
    const redis = await privateRedis();
    await direct(redis.url).call('ACL', 'SETUSER', 'default', '-subscribe');
    const { store, logged } = openStore({ url: redis.url });
    expect(await store.ready(5000)).toBe(false);
    expect(logged.map(({ err }) => err)).toContainEqual(expect.stringMatching(/NOPERM/));
  }, 20_000);

  it.skipIf(!redisServerInstalled)('is not ready while its command client cannot connect, though its subscriber is', async () => {
    const redis = await privateRedis();
    const { store, logged } = openStore({ url: redis.url });
    expect(await store.ready(5000)).toBe(true);
    const admin = direct(redis.url);
    const own = await admin.client('ID');
    const clients = (await admin.client('LIST') as string).trim().split('\n');
    // The one client neither subscribed nor this test's own.
    const command = clients.find((line) => / sub=0 /.test(line) && !line.startsWith(`id=${own} `))!;
    // Every slot but the two still open taken: the command client's reconnects are refused.
    await admin.config('SET', 'maxclients', '2');
    await admin.client('KILL', 'ID', /id=(\d+)/.exec(command)![1]!);
    await eventually(() => logged.some(({ err }) => /max number of clients/.test(err)), 'a refused reconnect');
    expect(await store.ready(300)).toBe(false);
  });
});
