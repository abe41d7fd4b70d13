import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { sleep } from './processes.js';
import { call, outcomeOf, Outcomes, type TenantUser } from './traffic.js';

export interface IngestLoadOptions {
  /** Where to send, read at every attempt: a restarted server may listen elsewhere. */
  base: () => string;
  tenant: TenantUser;
  clients: number;
  rowsPerBatch: number;
  /** Every batch in flight at stop() keeps retrying until acknowledged or this moment (performance.now()). */
  hardDeadline: number;
  /** Pause between attempts of an unacknowledged batch. */
  retryDelayMs: number;
  /** Hears every attempt's status (or why there was none) and when it came. */
  onAnswer?: (outcome: string | number, at: number) => void;
}

interface Batch {
  key: string;
  route: 'activities' | 'events';
  acknowledged: boolean;
}

export interface IngestLoad {
  readonly outcomes: Outcomes;
  /** The moments (performance.now()) batches were acknowledged, in order. */
  readonly acknowledgedAt: number[];
  /** Batches whose acknowledgement was a replay of an earlier attempt's commit. */
  readonly replayed: number;
  /** Stops starting new batches and waits for those in flight. */
  stop(): Promise<void>;
  /** Rows sent, acknowledged, stored, lost and duplicated, counted in the database at `databaseUrl`. */
  ledger(databaseUrl: string): Promise<Ledger>;
}

export interface Ledger {
  sent: number;
  acknowledged: number;
  stored: number;
  lost: number;
  duplicated: number;
  /** Batches stored in part: all or nothing was promised. */
  partial: number;
  unacknowledged: number;
}

function body(batch: Batch, rows: number, userId: number) {
  // Each row carries its batch's key, so the database alone says how often each batch was stored.
  return batch.route === 'activities'
    ? { activities: Array.from({ length: rows }, (_, row) => ({ userId, type: 'chaos', metadata: { batch: batch.key, row } })) }
    : { events: Array.from({ length: rows }, (_, row) => ({
      id: randomUUID(), distinctId: `d-${userId}`, userId, name: 'chaos', properties: { batch: batch.key, row },
    })) };
}

/**
 * Clients that each post one batch at a time (activities and events alternately) with an
 * Idempotency-Key, and retry every unacknowledged batch with the same key and the same body until
 * it is acknowledged: what a client that cannot tell a lost request from a lost answer must do.
 */
export function startIngestLoad(options: IngestLoadOptions): IngestLoad {
  const outcomes = new Outcomes();
  const acknowledgedAt: number[] = [];
  const batches: Batch[] = [];
  let stopping = false;
  let replayed = 0;
  const run = `chaos-${randomUUID().slice(0, 8)}`;

  async function client(index: number) {
    for (let sequence = 0; !stopping; sequence += 1) {
      const batch: Batch = { key: `${run}-c${index}-b${sequence}`, route: sequence % 2 === 0 ? 'activities' : 'events', acknowledged: false };
      batches.push(batch);
      const payload = body(batch, options.rowsPerBatch, options.tenant.userId);
      while (!batch.acknowledged && performance.now() < options.hardDeadline) {
        const answer = await outcomeOf(call(options.base(), 'POST', `/v1/${batch.route}`, {
          key: options.tenant.key, body: payload, headers: { 'idempotency-key': batch.key }, timeoutMs: 5000,
        }));
        outcomes.add(typeof answer === 'string' ? answer : answer.status);
        options.onAnswer?.(typeof answer === 'string' ? answer : answer.status, performance.now());
        // A replay: the batch was stored by an attempt whose answer never arrived.
        if (typeof answer !== 'string' && answer.headers.get('idempotent-replayed') === 'true') replayed += 1;
        if (typeof answer !== 'string' && answer.status >= 200 && answer.status < 300) {
          batch.acknowledged = true;
          acknowledgedAt.push(performance.now());
        } else {
          await sleep(options.retryDelayMs);
        }
      }
    }
  }

  const clients = Promise.all(Array.from({ length: options.clients }, (_, index) => client(index)));
  return {
    outcomes,
    acknowledgedAt,
    get replayed() {
      return replayed;
    },
    async stop() {
      stopping = true;
      await clients;
    },
    async ledger(databaseUrl) {
      const database = new pg.Client({ connectionString: databaseUrl });
      await database.connect();
      const stored = new Map<string, number>();
      try {
        const { rows } = await database.query<{ batch: string; rows: string }>(`
          select metadata->>'batch' as batch, count(*) as rows from user_activity where metadata ? 'batch' group by 1
          union all
          select properties->>'batch', count(*) from event where properties ? 'batch' group by 1`);
        for (const row of rows) stored.set(row.batch, Number(row.rows));
      } finally {
        await database.end();
      }
      const size = options.rowsPerBatch;
      const ledger: Ledger = { sent: 0, acknowledged: 0, stored: 0, lost: 0, duplicated: 0, partial: 0, unacknowledged: 0 };
      for (const batch of batches) {
        const rows = stored.get(batch.key) ?? 0;
        ledger.sent += size;
        ledger.stored += rows;
        ledger.duplicated += Math.max(rows - size, 0);
        if (batch.acknowledged) ledger.acknowledged += size;
        else ledger.unacknowledged += 1;
        if (batch.acknowledged && rows < size) ledger.lost += size - rows;
        if (rows > 0 && rows % size !== 0) ledger.partial += 1;
      }
      return ledger;
    },
  };
}
