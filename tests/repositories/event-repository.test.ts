import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { COPY_THRESHOLD } from '../../src/db/copy.js';
import { withTenant } from '../../src/db/tenant.js';
import type { EventInput } from '../../src/models/event.js';
import { EventRepository } from '../../src/repositories/event-repository.js';
import { migratedDatabase, type TestDatabase, onCitus, constraintNamed } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { recordStatements } from './plan-helpers.js';
import { eventBatchOf } from '../../src/models/event.js';

let database: TestDatabase;
let statements: ReturnType<typeof recordStatements>;

beforeAll(async () => {
  database = await migratedDatabase();
  statements = recordStatements(database.pool);
});

function asTenant<T>(tenantId: number, fn: (events: EventRepository) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new EventRepository(trx)));
}

function generated(count: number, userId?: number): EventInput[] {
  return Array.from({ length: count }, (_, index) => ({
    client_id: randomUUID(),
    distinct_id: `anon-${index % 17}`,
    user_id: userId !== undefined && index % 3 === 0 ? userId : null,
    name: ['signup', 'page\tview', 'checkout\\done'][index % 3]!,
    properties: { index, nested: { list: [1, 'two', null] }, text: 'line\nbreak \\N' },
    occurred_at: new Date(Date.UTC(2026, 8, 1) + index * 60_000).toISOString(),
  }));
}

async function storedEvents(tenantId: number) {
  const { rows } = await sql<{ client_id: string; distinct_id: string; user_id: number | null; name: string; properties: unknown; epoch_ms: number }>`
    select client_id, distinct_id, user_id, name, properties, (extract(epoch from occurred_at) * 1000)::float8 as epoch_ms
    from event where tenant_id = ${tenantId} order by id`.execute(database.admin);
  return rows;
}

const asRow = (event: EventInput) => ({
  client_id: event.client_id, distinct_id: event.distinct_id, user_id: event.user_id ?? null, name: event.name,
  properties: event.properties ?? {}, epoch_ms: Date.parse(String(event.occurred_at)),
});

describe('EventRepository.ingest', () => {
  it.each([
    // Citus refuses an INSERT … SELECT from coordinator rows under row-level security (it would
    // COPY them into the shards), so there every batch is an INSERT … VALUES.
    ...(onCitus()
      ? [['INSERT … VALUES, on Citus, however large', 10_000, /\bvalues \(/i], ['INSERT … VALUES, on Citus', COPY_THRESHOLD - 1, /\bvalues \(/i]] as const
      : [['COPY through a staging table', 10_000, /^copy /i], ['one INSERT … SELECT FROM unnest', COPY_THRESHOLD - 1, /unnest\(/i]] as const),
  ])('stores every event with its fields through %s (%i events)', async (_path, count, marker) => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const batch = generated(count, user.id);
    let result: unknown;
    const captured = await statements.capture(async () => {
      result = await asTenant(tenant.id, (events) => events.insertBatch(eventBatchOf(batch)));
    });
    expect(result).toEqual({ received: count, inserted: count, duplicates: 0 });
    expect(captured.some((statement) => marker.test(statement.text.trim()))).toBe(true);
    expect(await storedEvents(tenant.id)).toEqual(batch.map(asRow));
  });

  it('validates every event before sending anything: VALIDATION_FAILED names each bad row and field', async () => {
    const tenant = await createTenant(database);
    const batch: EventInput[] = generated(5);
    batch[1] = { ...batch[1]!, client_id: 'nope' };
    batch[4] = { ...batch[4]!, name: '' };
    const measured = await asTenant(tenant.id, (events) => database.queries.measure(() => Promise.resolve().then(() => events.insertBatch(eventBatchOf(batch))).catch((caught: unknown) => caught)));
    expect(measured.queries).toBe(0);
    expect(measured.result).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '1.client_id' }, { path: '4.name' }] });
    expect(await storedEvents(tenant.id)).toEqual([]);
  });

  it('refuses, as the HTTP edge does, an event dated before 2000 or more than a day ahead, Date or string', async () => {
    const tenant = await createTenant(database);
    const batch: EventInput[] = generated(4);
    batch[0] = { ...batch[0]!, occurred_at: new Date(Date.now() + 3 * 86_400_000) };
    batch[2] = { ...batch[2]!, occurred_at: '1999-12-31T23:59:59Z' };
    const measured = await asTenant(tenant.id, (events) => database.queries.measure(() => Promise.resolve().then(() => events.insertBatch(eventBatchOf(batch))).catch((caught: unknown) => caught)));
    expect(measured.queries).toBe(0);
    expect(measured.result).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: '0.occurred_at' }, { path: '2.occurred_at' }] });
    expect(await storedEvents(tenant.id)).toEqual([]);
  });

  it('stores an id once whether it repeats in the batch, in a later batch or in the same transaction', async () => {
    const tenant = await createTenant(database);
    const batch = generated(COPY_THRESHOLD);
    const repeated = [...batch, ...batch.slice(0, 10).map((event) => ({ ...event, name: 'copy' }))];
    expect(await asTenant(tenant.id, (events) => events.insertBatch(eventBatchOf(repeated))))
      .toEqual({ received: COPY_THRESHOLD + 10, inserted: COPY_THRESHOLD, duplicates: 10 });
    await asTenant(tenant.id, async (events) => {
      expect(await events.insertBatch(eventBatchOf(batch.slice(0, 3)))).toEqual({ received: 3, inserted: 0, duplicates: 3 });
      const fresh = generated(2);
      expect(await events.insertBatch(eventBatchOf([...fresh, ...fresh]))).toEqual({ received: 4, inserted: 2, duplicates: 2 });
    });
    const stored = await storedEvents(tenant.id);
    expect(stored).toHaveLength(COPY_THRESHOLD + 2);
    expect(stored.slice(0, COPY_THRESHOLD)).toEqual(batch.map(asRow));
  });

  it('stores an id once when two transactions race to insert it', async () => {
    const tenant = await createTenant(database);
    const batch = generated(200);
    const results = await Promise.all([1, 2, 3, 4].map(() => asTenant(tenant.id, (events) => events.insertBatch(eventBatchOf(batch)))));
    expect(results.reduce((sum, result) => sum + result.inserted, 0)).toBe(200);
    expect(results.reduce((sum, result) => sum + result.duplicates, 0)).toBe(600);
    expect(await storedEvents(tenant.id)).toHaveLength(200);
  });

  it('refuses an event naming another tenant\'s user and stores nothing of its batch', async () => {
    const tenant = await createTenant(database);
    const other = await createTenant(database);
    const stranger = await createUser(database, other.id);
    const batch = generated(COPY_THRESHOLD + 1);
    batch[COPY_THRESHOLD] = { ...batch[COPY_THRESHOLD]!, user_id: stranger.id };
    await expect(asTenant(tenant.id, (events) => events.insertBatch(eventBatchOf(batch))))
      .rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION', details: [{ path: 'userId' }], cause: { constraint: constraintNamed('event_tenant_id_user_id_fkey') } });
    expect(await storedEvents(tenant.id)).toEqual([]);
  });

  it('sends nothing for an empty batch', async () => {
    const tenant = await createTenant(database);
    const measured = await asTenant(tenant.id, (events) => database.queries.measure(() => events.insertBatch(eventBatchOf([]))));
    expect(measured).toMatchObject({ queries: 0, result: { received: 0, inserted: 0, duplicates: 0 } });
  });
});

describe('EventRepository.byClientIds', () => {
  it('finds the tenant\'s own events by client id and never another tenant\'s', async () => {
    const a = await createTenant(database);
    const b = await createTenant(database);
    const batch = generated(3);
    await asTenant(a.id, (events) => events.insertBatch(eventBatchOf(batch)));
    const ids = batch.map((event) => event.client_id);
    expect((await asTenant(a.id, (events) => events.byClientIds(ids))).map((event) => event.client_id)).toEqual(ids);
    expect(await asTenant(b.id, (events) => events.byClientIds(ids))).toEqual([]);
    const raw = await withTenant(database, { tenantId: b.id }, (trx) => sql<{ n: number }>`select count(*)::int as n from event`.execute(trx));
    expect(raw.rows[0]!.n).toBe(0);
    expect(await asTenant(a.id, (events) => events.byClientIds([]))).toEqual([]);
  });
});
