import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { INVALIDATION_CHANNEL, NotifyFeed } from '../../src/caching/notify-feed.js';
import { withDatabaseName } from '../../src/db/database.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { faultyLink, holdingLink, refusingPort, silentPort } from './proxy.js';
import { settle, STEADY, watchFeed } from './feeds.js';
import { eventually } from './support.js';

// The single-server feed: one connection of its own, LISTENing for the versions migration 0019's
// triggers announce and for its own heartbeats, which prove it current up to the time each was sent.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

const LISTENER = 'strata-cache-listener';
/** One heartbeat, when it starts listening: the connection is idle afterwards. */
const ONE_BEAT = { heartbeatMs: 60_000, leaseMs: 1000 };

function openFeed(url: string, timing: { heartbeatMs: number; leaseMs: number }) {
  return watchFeed((events) => new NotifyFeed({ url, ...timing }, events));
}

/** The listener's backend on this file's database, if it has one (once an earlier test's has gone). */
async function listener(): Promise<{ pid: number; client_port: number; query_start: Date | null } | undefined> {
  let rows: Array<{ pid: number; client_port: number; query_start: Date | null }> = [];
  await eventually(async () => {
    ({ rows } = await sql<{ pid: number; client_port: number; query_start: Date | null }>`
      select pid, client_port, query_start from pg_stat_activity
      where datname = current_database() and application_name = ${LISTENER}`.execute(database.admin));
    return rows.length <= 1;
  }, 'a single listener', 3000);
  return rows[0];
}

async function notify(payload: string): Promise<void> {
  await sql`select pg_notify(${INVALIDATION_CHANNEL}, ${payload})`.execute(database.admin);
}

describe.skipIf(onCitus())('on a single server, the invalidation listener (notify-feed.ts; a cluster polls every node instead)', () => {
  it('learns each scope version announced on the invalidation channel, and proves itself with the time it sent a heartbeat', async () => {
    const opened = performance.now();
    const { seen, provenSince } = openFeed(database.url, STEADY);
    await provenSince(opened);
    expect(seen.proven.every((sentAt) => sentAt >= opened && sentAt <= performance.now())).toBe(true);
    await notify('1:user:7 42');
    const asked = performance.now();
    await provenSince(asked);
    expect(seen.learned).toEqual([['1:user:7', 42]]);
  });

  it('ignores an announcement that does not name both a scope and a version', async () => {
    const { seen, provenSince } = openFeed(database.url, STEADY);
    await provenSince(performance.now());
    for (const payload of ['', 'orphan', ' 5', '2:user:1 9']) await notify(payload);
    await provenSince(performance.now());
    expect(seen.learned).toEqual([['2:user:1', 9]]);
  });

  it('listens on a connection of its own that names itself and keeps TCP keepalive on', async () => {
    const keepAlive = vi.spyOn(Socket.prototype, 'setKeepAlive');
    onTestFinished(() => keepAlive.mockRestore());
    const { provenSince } = openFeed(database.url, STEADY);
    await provenSince(performance.now());
    const backend = await listener();
    expect(backend).toBeDefined();
    const ours = keepAlive.mock.calls.filter((_, index) => (keepAlive.mock.contexts[index] as Socket).localPort === backend!.client_port);
    expect(ours.map(([enable]) => enable)).toEqual([true]);
  });

  it('is lost with the server\'s reason when its connection is terminated, and reports that once', async () => {
    const { seen, provenSince } = openFeed(database.url, ONE_BEAT);
    await provenSince(performance.now());
    const backend = await listener();
    await sql`select pg_terminate_backend(${backend!.pid})`.execute(database.admin);
    await eventually(() => seen.lost.length > 0, 'the feed to be lost', 5000);
    await settle();
    expect(seen.lost).toEqual([expect.stringContaining('terminating connection due to administrator command')]);
  });

  it('is lost with the server\'s reason when it cannot start listening', async () => {
    const { seen } = openFeed(withDatabaseName(database.url, 'strata_no_such_database'), STEADY);
    await eventually(() => seen.lost.length > 0, 'the feed to be lost', 5000);
    expect(seen.lost).toEqual([expect.stringContaining('does not exist')]);
  });

  it('is lost, with a reason, when its server cannot be reached', async () => {
    const url = new URL(database.url);
    url.hostname = '127.0.0.1';
    url.port = String(await refusingPort());
    const { seen } = openFeed(url.toString(), STEADY);
    await eventually(() => seen.lost.length > 0, 'the feed to be lost', 5000);
    expect(seen.lost).toEqual([expect.stringMatching(/\S/)]);
  });

  it('is lost when its server accepts the connection but never answers, after ten leases', async () => {
    const url = new URL(database.url);
    url.hostname = '127.0.0.1';
    url.port = String(await silentPort());
    const { seen } = openFeed(url.toString(), { heartbeatMs: 10, leaseMs: 20 });
    await eventually(() => seen.lost.length > 0, 'the feed to be lost', 5000);
    expect(seen.lost).toEqual([expect.stringMatching(/timeout/i)]);
  });

  it('is lost when a heartbeat goes unanswered for ten leases, and then reports and sends nothing more', async () => {
    const link = await faultyLink(database.url);
    const { seen, provenSince } = openFeed(link.url, { heartbeatMs: 10, leaseMs: 10 });
    await provenSince(performance.now());
    link.stall();
    await eventually(() => seen.lost.length > 0, 'the feed to be lost', 5000);
    const provenBefore = seen.proven.length;
    link.heal();
    await notify('3:user:1 5');
    await settle();
    expect(seen.lost).toEqual(['the invalidation listener stopped answering']);
    expect(seen.proven).toHaveLength(provenBefore);
    expect(seen.learned).toEqual([]);
    // The heartbeat held by the stall has reached the server by now; no other follows it.
    const before = await listener();
    await settle();
    expect((await listener())?.query_start).toEqual(before?.query_start);
  });

  it('once closed, ends its connection and reports nothing more', async () => {
    const { feed, seen, provenSince } = openFeed(database.url, STEADY);
    await provenSince(performance.now());
    await feed.close();
    const reported = seen.proven.length;
    await eventually(async () => (await listener()) === undefined, 'the listener\'s connection to end', 3000);
    await notify('4:user:1 6');
    await settle();
    expect(seen).toEqual({ learned: [], proven: expect.any(Array), lost: [] });
    expect(seen.proven).toHaveLength(reported);
    await expect(feed.close()).resolves.toBeUndefined();
  });

  it('reports nothing when closed before it has connected', async () => {
    const { feed, seen } = openFeed(database.url, STEADY);
    await feed.close();
    await settle();
    expect(seen).toEqual({ learned: [], proven: [], lost: [] });
  });

  it('reports nothing when closed while it is starting to listen', async () => {
    const link = await holdingLink(database.url);
    const listening = link.withhold(`LISTEN ${INVALIDATION_CHANNEL}`);
    const { feed, seen } = openFeed(link.url, STEADY);
    await listening;
    await feed.close();
    await settle();
    expect(seen).toEqual({ learned: [], proven: [], lost: [] });
  });

  it('closes quietly when the server\'s last words are an error', async () => {
    const link = await holdingLink(database.url);
    const { feed, seen, provenSince } = openFeed(link.url, ONE_BEAT);
    await provenSince(performance.now());
    link.hold();
    const backend = await listener();
    await sql`select pg_terminate_backend(${backend!.pid}, 5000)`.execute(database.admin);
    const closed = feed.close();
    link.release();
    await closed;
    await settle();
    expect(seen.lost).toEqual([]);
  });
});
