import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { FeedEvents, FeedOptions, VersionFeed } from './version-feed.js';

/** Where migration 0019's triggers announce each scope version they bump, at commit. */
export const INVALIDATION_CHANNEL = 'strata_cache';

/**
 * A single server's versions, heard over LISTEN: the triggers NOTIFY each bump, and PostgreSQL
 * delivers notifications in commit order, so hearing our own heartbeat sent at t means every
 * commit before t has been heard.
 */
export class NotifyFeed implements VersionFeed {
  readonly #heartbeatChannel = `strata_cache_heartbeat_${randomBytes(6).toString('hex')}`;
  readonly #timer: NodeJS.Timeout;
  #client: pg.Client | null = null;
  #listening = false;
  #beatSentAt: number | null = null;
  #done = false;

  constructor(private readonly options: FeedOptions, private readonly events: FeedEvents) {
    void this.#connect();
    this.#timer = setInterval(() => this.#beat(), options.heartbeatMs);
    this.#timer.unref();
  }

  async close(): Promise<void> {
    this.#done = true;
    clearInterval(this.#timer);
    const client = this.#client;
    this.#client = null;
    if (!client) return;
    client.removeAllListeners();
    client.on('error', () => undefined);
    await client.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    // A server that accepts the connection but never answers is as silent as a lost one: the same ten leases.
    const client = new pg.Client({
      connectionString: this.options.url, application_name: 'strata-cache-listener', keepAlive: true,
      connectionTimeoutMillis: this.options.leaseMs * 10,
    });
    this.#client = client;
    client.on('error', (error: Error) => this.#fail(error.message));
    client.on('end', () => this.#fail('the invalidation listener\'s connection ended'));
    client.on('notification', (message) => this.#onNotification(message));
    try {
      await client.connect();
      await client.query(`LISTEN ${INVALIDATION_CHANNEL}; LISTEN ${this.#heartbeatChannel}`);
    } catch (error) {
      this.#fail((error as Error).message);
      return;
    }
    this.#listening = true;
    this.#beat();
  }

  #beat(): void {
    const client = this.#client;
    if (!client || !this.#listening || this.#done) return;
    if (this.#beatSentAt !== null) {
      // A connection silent for this long is dead, not slow (a peer gone without a FIN): start afresh.
      if (performance.now() - this.#beatSentAt > this.options.leaseMs * 10) this.#fail('the invalidation listener stopped answering');
      return;
    }
    const sentAt = performance.now();
    this.#beatSentAt = sentAt;
    client.query('select pg_notify($1, $2)', [this.#heartbeatChannel, String(sentAt)]).then(() => {
      if (this.#beatSentAt === sentAt) this.#beatSentAt = null;
    }, () => undefined);
  }

  #onNotification({ channel, payload = '' }: pg.Notification): void {
    if (this.#done) return;
    if (channel === this.#heartbeatChannel) {
      this.events.proven(Number(payload));
      return;
    }
    const [scope, version] = payload.split(' ');
    if (scope && version) this.events.learn(scope, Number(version));
  }

  #fail(reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.events.lost(reason);
  }
}
