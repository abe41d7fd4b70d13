import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { FeedEvents, FeedOptions, VersionFeed } from './version-feed.js';

// The workers, as the coordinator lists them; the coordinator itself is reached at the feed's URL.
const WORKERS_QUERY = `select nodename as host, nodeport as port from pg_dist_node
  where isactive and noderole = 'primary' and groupid <> 0 order by nodeid`;
// Migration 0023: the versions bumped on this node since the last poll's horizon, and where every
// shard of cache_version is placed.
const CHANGES_QUERY = 'select horizon::text as horizon, placements, scopes, versions from cache_version_changes($1::xid8)';

interface ChangesRow {
  horizon: string;
  placements: string | null;
  scopes: string[] | null;
  versions: string[] | null;
}

interface NodePoll {
  readonly name: string;
  readonly client: pg.Client;
  /** The horizon the last poll read (null before the first): the next one reads the bumps from there. */
  horizon: string | null;
  /** The cache_version placements the first poll found; undefined before it. */
  placements: string | null | undefined;
  /** When the poll in flight was sent, or null. */
  sentAt: number | null;
  /** When the last poll that answered was sent. */
  answeredFor: number | null;
}

/**
 * A Citus cluster's versions, polled. Each tenant's versions live on the worker that holds its rows
 * and are bumped in that worker's part of the writing transaction (migration 0023), where a NOTIFY
 * is not possible: PostgreSQL refuses to PREPARE a transaction that has notified. So one connection
 * per node (the coordinator and each worker in pg_dist_node) asks every heartbeat for the versions
 * bumped by transactions that were still running at the previous poll. A poll sent at t sees every
 * commit made before t, on its node: once every node has answered a poll sent at t or later, every
 * commit before t is known, which is what a heartbeat proves on a single server. The coordinator
 * holds no versions; it is polled because its metadata is the authority on where they are placed.
 */
export class PollFeed implements VersionFeed {
  readonly #nodes: NodePoll[] = [];
  #timer: NodeJS.Timeout | undefined;
  #done = false;

  constructor(private readonly options: FeedOptions, private readonly events: FeedEvents) {
    void this.#start();
  }

  async close(): Promise<void> {
    this.#done = true;
    clearInterval(this.#timer);
    await Promise.all(this.#nodes.map(async ({ client }) => {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }));
  }

  async #start(): Promise<void> {
    try {
      const coordinator = await this.#open(this.options.url, 'the coordinator');
      const { rows } = await coordinator.client.query<{ host: string; port: number }>(WORKERS_QUERY);
      for (const { host, port } of rows) {
        const url = new URL(this.options.url);
        url.hostname = host;
        url.port = String(port);
        await this.#open(this.options.nodeUrl?.(url.toString()) ?? url.toString(), `worker ${host}:${port}`);
      }
    } catch (error) {
      this.#fail((error as Error).message);
      return;
    }
    if (this.#done) {
      // Closed while connecting: the connections opened since must go too.
      await this.close();
      return;
    }
    this.#timer = setInterval(() => this.#pollAll(), this.options.heartbeatMs);
    this.#timer.unref();
    this.#pollAll();
  }

  async #open(url: string, name: string): Promise<NodePoll> {
    if (this.#done) throw new Error('the cache version poll was closed');
    // A node that accepts the connection but never answers is as silent as a lost one: the same ten leases.
    const client = new pg.Client({
      connectionString: url, application_name: 'strata-cache-poll', keepAlive: true, connectionTimeoutMillis: this.options.leaseMs * 10,
    });
    const node: NodePoll = { name, client, horizon: null, placements: undefined, sentAt: null, answeredFor: null };
    this.#nodes.push(node);
    client.on('error', (error: Error) => this.#fail(`${name}: ${error.message}`));
    client.on('end', () => this.#fail(`the cache version poll's connection to ${name} ended`));
    await client.connect();
    return node;
  }

  #pollAll(): void {
    if (this.#done) return;
    const now = performance.now();
    for (const node of this.#nodes) {
      if (node.sentAt !== null) {
        // A connection silent for this long is dead, not slow (a peer gone without a FIN): start afresh.
        if (now - node.sentAt > this.options.leaseMs * 10) this.#fail(`${node.name} stopped answering the cache version poll`);
        continue;
      }
      const sentAt = now;
      node.sentAt = sentAt;
      node.client.query<ChangesRow>(CHANGES_QUERY, [node.horizon]).then(
        ({ rows }) => this.#answered(node, sentAt, rows[0]!),
        (error: Error) => this.#fail(`${node.name}: ${error.message}`),
      );
    }
  }

  #answered(node: NodePoll, sentAt: number, row: ChangesRow): void {
    if (this.#done) return;
    node.sentAt = null;
    if (node.placements !== undefined && row.placements !== node.placements) {
      this.#fail(`the cache versions moved between nodes (seen from ${node.name})`);
      return;
    }
    node.placements = row.placements;
    node.horizon = row.horizon;
    const versions = row.versions ?? [];
    (row.scopes ?? []).forEach((scope, index) => this.events.learn(scope, Number(versions[index])));
    node.answeredFor = sentAt;
    let provenAt = Number.POSITIVE_INFINITY;
    for (const { answeredFor } of this.#nodes) provenAt = Math.min(provenAt, answeredFor ?? Number.NEGATIVE_INFINITY);
    if (provenAt > Number.NEGATIVE_INFINITY) this.events.proven(provenAt);
  }

  #fail(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.events.lost(reason);
  }
}
