import { sql } from 'kysely';
import { insertRows, type BatchShape } from '../db/copy.js';
import { runsOnCluster, tenantOf, type TenantTx } from '../db/tenant.js';
import type { EventBatch, EventIngestResult, ParsedEvent } from '../models/event.js';

const eventShape: BatchShape<ParsedEvent> = {
  name: 'event',
  columns: [
    { name: 'client_id', type: 'uuid', value: (row) => row.client_id },
    { name: 'distinct_id', type: 'text', value: (row) => row.distinct_id },
    { name: 'user_id', type: 'bigint', value: (row) => row.user_id ?? null },
    { name: 'name', type: 'text', value: (row) => row.name },
    { name: 'properties', type: 'jsonb', value: (row) => (row.properties === undefined ? '{}' : JSON.stringify(row.properties)) },
    { name: 'occurred_at', type: 'timestamptz', value: (row) => row.occurred_at ?? null },
  ],
};

/** The first event of each client id: a batch that repeats an id keeps the first, deterministically. */
function firstOfEachId(batch: readonly ParsedEvent[]): ParsedEvent[] {
  const seen = new Set<string>();
  const kept: ParsedEvent[] = [];
  for (const event of batch) {
    const key = event.client_id.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    kept.push(event);
  }
  return kept;
}

/** Product events: append-only, each client id stored once per tenant. */
export class EventRepository {
  constructor(private readonly trx: TenantTx) {}

  /**
   * Stores the events whose client id the tenant has not stored yet, all in one statement: a batch
   * retried after a lost response, or racing its own retry, adds nothing twice (the unique key on
   * (tenant_id, client_id) decides, and a concurrent insert of the same id waits for the other).
   */
  async insertBatch(batch: EventBatch): Promise<EventIngestResult> {
    const distinct = firstOfEachId(batch);
    if (distinct.length === 0) return { received: 0, inserted: 0, duplicates: 0 };
    const tenantId = tenantOf(this.trx);
    const inserted = await insertRows(this.trx, eventShape, distinct, {
      table: 'event',
      targets: ['tenant_id', 'client_id', 'distinct_id', 'user_id', 'name', 'properties', 'occurred_at'],
      project: (row) => [sql`${tenantId}::bigint`, row.client_id!, row.distinct_id!, row.user_id!, row.name!, row.properties!,
        sql`coalesce(${row.occurred_at}, now())`],
      conflict: sql`on conflict (tenant_id, client_id) do nothing`,
    }, { cluster: runsOnCluster(this.trx) });
    return { received: batch.length, inserted, duplicates: batch.length - inserted };
  }

  /** The tenant's stored events among these client ids. */
  async byClientIds(clientIds: readonly string[]) {
    if (clientIds.length === 0) return [];
    return this.trx.selectFrom('event').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx))
      .where('client_id', '=', sql<string>`any(${[...clientIds]}::uuid[])`)
      .orderBy('id').execute();
  }
}
