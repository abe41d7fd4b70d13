import { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, describe, expect, inject, it, onTestFinished, vi } from 'vitest';
import { PollFeed } from '../../src/caching/poll-feed.js';
import { withDatabaseName } from '../../src/db/database.js';
import { onServer } from '../helpers/cluster.js';
import { createTenant } from '../helpers/fixtures.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { faultyLink, holdingLink, refusingPort, silentPort, type FaultyLink } from './proxy.js';
import { settle, STEADY, watchFeed } from './feeds.js';
import { eventually } from './support.js';

// The cluster's feed (migration 0023): one connection per node, the coordinator and each worker in
// pg_dist_node, asking every heartbeat for the versions bumped since its last poll. It is proven
// current up to the time it sent a poll once every node has answered one sent then or later.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

const POLLER = 'strata-cache-poll';
/** One poll, when it starts: the connections are idle afterwards. */
const ONE_POLL = { heartbeatMs: 60_000, leaseMs: 1000 };

/** The workers of this file's database, as pg_dist_node names them (the feed's names for them too). */
function workers(): Array<{ address: string; url: string }> {
  const [, ...urls] = inject('servers').urls;
  return urls.map((url) => ({ address: new URL(url).host, url: withDatabaseName(url, database.name) }));
}

interface Timing { heartbeatMs: number; leaseMs: number }

function openFeed(timing: Timing, links: { url?: string; nodeUrl?: (url: string) => string } = {}) {
  return watchFeed((events) => new PollFeed({ url: links.url ?? database.url, nodeUrl: links.nodeUrl, ...timing }, events));
}

/** The poll's backends on each node (coordinator first), for this file's database. */
async function pollers(): Promise<Array<Array<{ pid: number; client_port: number }>>> {
  return Promise.all([database.url, ...workers().map(({ url }) => url)].map((url) => onServer(url, async (client) => {
    const { rows } = await client.query<{ pid: number; client_port: number }>(
      'select pid, client_port from pg_stat_activity where datname = current_database() and application_name = $1', [POLLER]);
    return rows;
  })));
}

/** Sends every connection to a worker through a proxy of the test's choosing (its URL from the worker's). */
function through(proxyUrl: (workerUrl: string) => string) {
  return (url: string) => {
    const proxied = new URL(url);
    proxied.host = new URL(proxyUrl(url)).host;
    return proxied.toString();
  };
}

/** A faulty link in front of the first worker; the others are reached directly. */
async function firstWorkerLink(): Promise<{ link: FaultyLink; address: string; nodeUrl: (url: string) => string }> {
  const [first] = workers();
  const link = await faultyLink(first!.url);
  return { link, address: first!.address, nodeUrl: through((url) => (new URL(url).host === first!.address ? link.url : url)) };
}

async function bumpTenant(tenantId: number): Promise<number> {
  await sql`update tenant set name = name || '!' where id = ${tenantId}`.execute(database.admin);
  const { rows } = await sql<{ version: string }>`select version from cache_version where scope = ${String(tenantId)}`.execute(database.admin);
  return Number(rows[0]!.version);
}

describe.runIf(onCitus())('on a Citus cluster, the version poll (poll-feed.ts; a single server listens instead)', () => {
  it('polls the coordinator and each worker on a connection of its own that names itself and keeps TCP keepalive on', async () => {
    const keepAlive = vi.spyOn(Socket.prototype, 'setKeepAlive');
    onTestFinished(() => keepAlive.mockRestore());
    const { provenSince } = openFeed(STEADY);
    await provenSince(performance.now());
    const nodes = await pollers();
    expect(nodes.map((backends) => backends.length)).toEqual([1, ...workers().map(() => 1)]);
    const ports = new Set(nodes.flat().map(({ client_port }) => client_port));
    const ours = keepAlive.mock.calls.filter((_, index) => ports.has((keepAlive.mock.contexts[index] as Socket).localPort!));
    expect(ours.map(([enable]) => enable)).toEqual(nodes.map(() => true));
  });

  it('proves itself at once with the time it sent its first poll, and again with every later poll', async () => {
    const opened = performance.now();
    const once = openFeed(ONE_POLL);
    await once.provenSince(opened);
    expect(once.seen.proven.every((sentAt) => sentAt >= opened && sentAt <= performance.now())).toBe(true);
    const steady = openFeed(STEADY);
    await steady.provenSince(performance.now());
    await steady.provenSince(performance.now());
  });

  it('learns each version bumped since its last poll, as the node stores it, and nothing from before its first', async () => {
    const tenant = await createTenant(database);
    await bumpTenant(tenant.id);
    const { seen, provenSince } = openFeed(STEADY);
    await provenSince(performance.now());
    await provenSince(performance.now());
    expect(seen.learned).toEqual([]);
    const version = await bumpTenant(tenant.id);
    await provenSince(performance.now());
    expect(seen.learned).toContainEqual([String(tenant.id), version]);
    expect(new Set(seen.learned.map(([scope]) => scope))).toEqual(new Set([String(tenant.id)]));
  });

  it('is not proven past a time until every node has answered a poll sent then or later', async () => {
    const { link, nodeUrl } = await firstWorkerLink();
    const { seen, provenSince } = openFeed(STEADY, { nodeUrl });
    await provenSince(performance.now());
    link.stall();
    const stalled = performance.now();
    await settle(); // the coordinator and the other workers answer many polls meanwhile
    expect(seen.proven.every((sentAt) => sentAt < stalled)).toBe(true);
    link.heal();
    await provenSince(stalled);
    expect(seen.lost).toEqual([]);
  });

  it('waits for a node that is silent for less than ten leases', async () => {
    const { link, nodeUrl } = await firstWorkerLink();
    const { seen, provenSince } = openFeed(STEADY, { nodeUrl });
    await provenSince(performance.now());
    link.stall();
    await new Promise((resolve) => setTimeout(resolve, 300));
    link.heal();
    await provenSince(performance.now());
    expect(seen.lost).toEqual([]);
  });

  it('is lost, naming the node, when one stops answering for ten leases, and then reports and polls no more', async () => {
    const tenant = await createTenant(database);
    const { link, address, nodeUrl } = await firstWorkerLink();
    const { seen, provenSince, lost } = openFeed({ heartbeatMs: 10, leaseMs: 10 }, { nodeUrl });
    await provenSince(performance.now());
    link.stall();
    await lost();
    const provenBefore = seen.proven.length;
    link.heal();
    await bumpTenant(tenant.id);
    await settle();
    expect(seen.lost).toEqual([`worker ${address} stopped answering the cache version poll`]);
    expect(seen.proven).toHaveLength(provenBefore);
    expect(seen.learned).toEqual([]);
    const lastPoll = () => onServer(database.url, async (client) => (await client.query<{ query_start: Date }>(
      'select query_start from pg_stat_activity where datname = current_database() and application_name = $1', [POLLER])).rows[0]!.query_start);
    const before = await lastPoll();
    await settle();
    expect(await lastPoll()).toEqual(before);
  });

  it.each(['the coordinator', 'a worker'] as const)('is lost, naming the node, with the server\'s reason when %s ends its connection, and then polls no more', async (which) => {
    const polls = vi.spyOn(pg.Client.prototype, 'query');
    onTestFinished(() => polls.mockRestore());
    const { seen, provenSince, lost } = openFeed({ heartbeatMs: 50, leaseMs: 1000 });
    await provenSince(performance.now());
    const [first] = workers();
    const [onCoordinator, onWorker] = await pollers();
    const [url, backend, name] = which === 'a worker'
      ? [first!.url, onWorker![0]!, `worker ${first!.address}`]
      : [database.url, onCoordinator![0]!, 'the coordinator'];
    await onServer(url, (client) => client.query('select pg_terminate_backend($1::int)', [backend.pid]));
    await lost();
    const sent = polls.mock.calls.length;
    await settle();
    expect(seen.lost).toEqual([`${name}: terminating connection due to administrator command`]);
    expect(polls.mock.calls.length - sent).toBe(0);
  });

  it('is lost, naming the worker, with the error its poll met there', async () => {
    const [first] = workers();
    const rename = async (from: string, to: string) => {
      await onServer(first!.url, (client) => client.query(
        `set citus.enable_ddl_propagation = off; alter function ${from}(xid8) rename to ${to}`));
    };
    const { seen, provenSince, lost } = openFeed(STEADY);
    await provenSince(performance.now());
    await rename('cache_version_changes', 'cache_version_changes_away');
    onTestFinished(() => rename('cache_version_changes_away', 'cache_version_changes'));
    await lost();
    expect(seen.lost).toEqual([expect.stringMatching(new RegExp(`^worker ${first!.address}: function cache_version_changes\\(.*\\) does not exist`))]);
  });

  it('is lost with the server\'s reason when the coordinator refuses it', async () => {
    const { seen, lost } = openFeed(STEADY, { url: withDatabaseName(database.url, 'strata_no_such_database') });
    await lost();
    expect(seen.lost).toEqual([expect.stringContaining('"strata_no_such_database" does not exist')]);
  });

  it('reaches each worker at the address nodeUrl maps it to, and is lost when nothing answers there', async () => {
    const refusing = await refusingPort();
    const { seen, lost } = openFeed(STEADY, { nodeUrl: through(() => `postgres://127.0.0.1:${refusing}`) });
    await lost();
    expect(seen.lost).toEqual([expect.stringContaining(`ECONNREFUSED 127.0.0.1:${refusing}`)]);
  });

  it('is lost when a worker accepts the connection but never answers, after ten leases', async () => {
    const silent = await silentPort();
    const { seen, lost } = openFeed({ heartbeatMs: 10, leaseMs: 20 }, { nodeUrl: through(() => `postgres://127.0.0.1:${silent}`) });
    await lost();
    expect(seen.lost).toEqual([expect.stringMatching(/timeout/i)]);
  });

  it('once closed, ends its connection to every node and reports nothing more', async () => {
    const tenant = await createTenant(database);
    const { feed, seen, provenSince } = openFeed(STEADY);
    await provenSince(performance.now());
    await feed.close();
    const reported = seen.proven.length;
    await eventually(async () => (await pollers()).every((backends) => backends.length === 0), 'every poll connection to end', 3000);
    await bumpTenant(tenant.id);
    await settle();
    expect(seen).toEqual({ learned: [], proven: expect.any(Array), lost: [] });
    expect(seen.proven).toHaveLength(reported);
    await expect(feed.close()).resolves.toBeUndefined();
  });

  it('reports nothing and leaves no connection when closed while asking the coordinator for its workers', async () => {
    const link = await holdingLink(database.url);
    const asking = link.withhold('pg_dist_node');
    const { feed, seen } = openFeed(STEADY, { url: link.url });
    await asking;
    await feed.close();
    await settle();
    expect(seen).toEqual({ learned: [], proven: [], lost: [] });
    expect((await pollers()).flat()).toEqual([]);
  });

  it('opens no connection to a worker once closed as it was about to', async () => {
    const link = await faultyLink(workers()[0]!.url);
    const opened = vi.spyOn(Socket.prototype, 'connect');
    onTestFinished(() => opened.mockRestore());
    const { feed, seen } = openFeed(STEADY, {
      nodeUrl: (url) => {
        void feed.close();
        return through(() => link.url)(url);
      },
    });
    await settle();
    expect(seen).toEqual({ learned: [], proven: [], lost: [] });
    expect(opened.mock.calls.filter(([port]) => String(port) === new URL(link.url).port)).toEqual([]);
    expect((await pollers()).flat()).toEqual([]);
  });

  it('closes quietly when a worker\'s last words are an error', async () => {
    const [first] = workers();
    const link = await holdingLink(first!.url);
    const { feed, seen, provenSince } = openFeed(ONE_POLL, { nodeUrl: through((url) => (new URL(url).host === first!.address ? link.url : url)) });
    await provenSince(performance.now());
    link.hold();
    const [, backends] = await pollers();
    await onServer(first!.url, (client) => client.query('select pg_terminate_backend($1::int, 5000::bigint)', [backends![0]!.pid]));
    const closed = feed.close();
    link.release();
    await closed;
    await settle();
    expect(seen.lost).toEqual([]);
  });
});
