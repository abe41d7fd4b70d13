import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { DatabaseVersions, type DatabaseVersionsOptions } from '../../src/caching/database-versions.js';
import type { FeedEvents } from '../../src/caching/version-feed.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { eventually } from './support.js';

// DatabaseVersions over feeds the test drives itself: each feed it opens is one session, and only
// the live session's reports count. A real feed reports each fault once and stops, so these are the
// races a real one only hits by chance: a report arriving after its feed was replaced or closed, a
// read in flight across a reset, a start still asking whether the database is a cluster.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

interface DrivenFeed {
  events: FeedEvents;
  closed: boolean;
}

// Long enough that no proof lapses on a loaded machine while a test runs.
const LEASE_MS = 60_000;
// Never committed: read from the database as version 0.
const SCOPE = '9:user:never-bumped';

function driven(options: Partial<DatabaseVersionsOptions> = {}) {
  const feeds: DrivenFeed[] = [];
  const resets = { count: 0 };
  const versions = new DatabaseVersions({
    url: 'postgres://unused',
    pool: database.pool,
    cluster: () => Promise.resolve(false),
    logger: { warn: () => undefined },
    warnIntervalMs: 0,
    maxScopes: 100,
    leaseMs: LEASE_MS,
    onReset: () => {
      resets.count += 1;
    },
    openFeed: (_cluster, _options, events) => {
      const feed: DrivenFeed = { events, closed: false };
      feeds.push(feed);
      return {
        close: async () => {
          feed.closed = true;
        },
      };
    },
    ...options,
  });
  onTestFinished(() => versions.close());
  /** The n-th feed opened (1-based), once it is. */
  const feed = async (n: number): Promise<DrivenFeed> => {
    await eventually(() => feeds.length >= n, `feed ${n} to open`);
    return feeds[n - 1]!;
  };
  return { versions, feeds, resets, feed };
}

/** A pool whose reads wait until released: a read held in flight while the feed changes. */
function heldPool() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  const held = { reads: 0, release };
  const pool = {
    query: async (query: pg.QueryConfig) => {
      held.reads += 1;
      await released;
      return database.pool.query(query);
    },
  } as unknown as pg.Pool;
  return { pool, held };
}

/** A proven first feed and a read of SCOPE held on its way to the database, until `held.release()`. */
async function readInFlight() {
  const { pool, held } = heldPool();
  const { versions, feed } = driven({ pool });
  const first = await feed(1);
  first.events.proven(performance.now());
  const reading = versions.tag([SCOPE]);
  await eventually(() => held.reads === 1, 'the read to start');
  return { versions, feed, first, held, reading };
}

describe('DatabaseVersions, its feed sessions', () => {
  it('a feed\'s events after it was lost are ignored: an old session can neither teach a version nor prove itself or its successor current', async () => {
    const { versions, feeds, resets, feed } = driven();
    const first = await feed(1);
    first.events.proven(performance.now());
    expect(versions.trusted()).toBe(true);

    first.events.lost('cut');
    expect([versions.trusted(), resets.count, first.closed]).toEqual([false, 1, true]);
    // Before its successor opens...
    first.events.proven(performance.now());
    expect(versions.trusted()).toBe(false);
    // ...and after: the successor's session is not the old one's.
    const second = await feed(2);
    first.events.proven(performance.now());
    expect(versions.trusted()).toBe(false);

    second.events.proven(performance.now());
    expect(versions.trusted()).toBe(true);
    first.events.learn(SCOPE, 99);
    expect(await versions.tag([SCOPE])).toBe('p0');
    second.events.learn(SCOPE, 5);
    expect(await versions.tag([SCOPE])).toBe('p5');

    // The old feed losing its connection again is no news about the current one.
    first.events.lost('cut again');
    expect([versions.trusted(), resets.count, second.closed, feeds.length]).toEqual([true, 1, false, 2]);
  });

  it('a read that began before a reset is not trusted after it, though the next feed is current by the time it returns', async () => {
    const { versions, feed, first, held, reading } = await readInFlight();

    // A commit announced while the feed was cut is lost: the read may predate it.
    first.events.lost('cut');
    const second = await feed(2);
    second.events.proven(performance.now());
    expect(versions.trusted()).toBe(true);
    held.release();
    expect(await reading).toBeUndefined();

    // Nothing was learned from it: the scope is read again, under the current feed.
    expect(await database.queries.measure(() => versions.tag([SCOPE]))).toMatchObject({ result: 'p0', queries: 1 });
  });

  it('once closed, its feed\'s late reports neither teach it, prove it current, nor reset or restart it', async () => {
    const { versions, feeds, resets, feed } = driven();
    const first = await feed(1);
    first.events.proven(performance.now());
    await versions.close();
    expect(first.closed).toBe(true);

    first.events.learn(SCOPE, 7);
    first.events.proven(performance.now());
    expect(versions.trusted()).toBe(false);
    first.events.lost('the connection ended');
    expect(resets.count).toBe(0);
    expect(await versions.tag([SCOPE])).toBeUndefined();
    expect(await versions.ready(200)).toBe(false);
    expect(feeds).toHaveLength(1);
  });

  it('closed while waiting to reconnect, a lost feed\'s late reports still neither teach it nor prove it current', async () => {
    const { versions, resets, feed } = driven();
    const first = await feed(1);
    first.events.proven(performance.now());
    first.events.lost('cut');
    // Before the reconnect opens a second feed: the session now is the one between the two.
    await versions.close();

    first.events.proven(performance.now());
    first.events.learn(SCOPE, 7);
    expect(versions.trusted()).toBe(false);
    expect(await versions.tag([SCOPE])).toBeUndefined();
    expect(resets.count).toBe(1);
  });

  it('once closed, a start still asking whether the database is a cluster opens no feed', async () => {
    let answer!: (cluster: boolean) => void;
    const asked = new Promise<boolean>((resolve) => {
      answer = resolve;
    });
    const { versions, feeds } = driven({ cluster: () => asked });
    await versions.close();
    answer(false);
    await asked;
    // The start resumes in a microtask: all of them have run before the next turn of the loop.
    await new Promise((resolve) => setImmediate(resolve));
    expect(feeds).toHaveLength(0);
  });

  it('a read that returns after the feed taught a newer version does not set it back', async () => {
    const { versions, first, held, reading } = await readInFlight();
    // Committed and announced while the read was on its way: the read's 0 is older.
    first.events.learn(SCOPE, 7);
    held.release();
    expect(await reading).toBe('p7');
    expect(await versions.tag([SCOPE])).toBe('p7');
  });
});

describe('DatabaseVersions, its lease and deadline at their exact instant', () => {
  it('trusts a proof for less than one lease: at exactly sentAt + lease it has lapsed', async () => {
    const { versions, resets, feed } = driven();
    const first = await feed(1);
    const sentAt = performance.now();
    first.events.proven(sentAt);
    const now = vi.spyOn(performance, 'now');
    onTestFinished(() => now.mockRestore());
    now.mockReturnValue(sentAt + LEASE_MS - 0.001);
    expect(versions.trusted()).toBe(true);
    now.mockReturnValue(sentAt + LEASE_MS);
    expect(versions.trusted()).toBe(false);
    now.mockRestore();
    expect(resets.count).toBe(1);
  });

  it('waits to be ready until past its deadline: at the deadline\'s exact instant it still looks once more', async () => {
    const { versions, feed } = driven();
    const first = await feed(1);
    // A clock that stands still at the deadline of ready(0) until the test moves on.
    const instant = performance.now();
    const now = vi.spyOn(performance, 'now').mockReturnValue(instant);
    onTestFinished(() => now.mockRestore());
    const ready = versions.ready(0);
    first.events.proven(instant);
    expect(await ready).toBe(true);
  });
});
