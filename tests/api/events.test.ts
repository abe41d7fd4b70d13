import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_ROWS } from '../../src/api/ingest.js';
import { COPY_THRESHOLD } from '../../src/db/copy.js';
import { expectAuthRequired } from './support/auth.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { unique } from './support/seed.js';
import { twoTenants, type ApiTenant, type Seeder } from './support/two-tenants.js';

let api: CheckedApi, seed: Seeder, a: ApiTenant, b: ApiTenant;
let ada: { id: number };
let stranger: { id: number };

beforeAll(async () => {
  ({ api, seed, a, b } = await twoTenants(checkedApi(), 'Events'));
  ada = await seed.user(a.key);
  stranger = await seed.user(b.key);
});

interface ApiEvent {
  id: string;
  distinctId: string;
  userId?: number | null;
  name: string;
  properties?: Record<string, unknown>;
  timestamp?: string;
}

function events(count: number, userId?: number): ApiEvent[] {
  return Array.from({ length: count }, (_, index) => ({
    id: randomUUID(),
    distinctId: `device-${index % 13}`,
    ...(userId !== undefined && index % 2 === 0 ? { userId } : {}),
    name: index % 3 === 0 ? 'page viewed' : 'button\tclicked',
    properties: { index, path: `/p/${index % 5}`, note: 'back\\slash \\N "q"' },
    timestamp: new Date(Date.UTC(2026, 9, 1) + index * 1000).toISOString(),
  }));
}

async function stored(tenantId: number) {
  const { rows } = await sql<{ client_id: string; distinct_id: string; user_id: number | null; name: string; properties: unknown; at: string }>`
    select client_id, distinct_id, user_id, name, properties, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at
    from event where tenant_id = ${tenantId} order by id`.execute(api.database.admin);
  return rows;
}

const asStored = (event: ApiEvent) => ({
  client_id: event.id, distinct_id: event.distinctId, user_id: event.userId ?? null, name: event.name, properties: event.properties ?? {}, at: event.timestamp,
});

async function clear(tenantId: number) {
  await sql`delete from event where tenant_id = ${tenantId}`.execute(api.database.admin);
}

const post = (key: string, batch: unknown[], headers: Record<string, string> = {}) => api.call('POST', '/v1/events', key, { events: batch }, headers);

describe('POST /v1/events', () => {
  it.each([
    ['one INSERT … SELECT FROM unnest', 4],
    ['COPY through a staging table', COPY_THRESHOLD],
    ['COPY, at the 10,000-row limit', MAX_BATCH_ROWS],
  ])('stores every event with its fields through %s (%i events)', async (_path, count) => {
    await clear(a.id);
    const batch = events(count, ada.id);
    const response = await post(a.key, batch);
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ data: { received: count, inserted: count, duplicates: 0 } });
    expect(await stored(a.id)).toEqual(batch.map(asStored));
  });

  it('stores an id repeated within a batch once, keeping its first occurrence, and counts the rest as duplicates', async () => {
    await clear(a.id);
    const [first, second] = events(2);
    const batch = [first!, second!, { ...first!, name: 'second copy' }, { ...first!, id: first!.id.toUpperCase(), name: 'third copy' }];
    expect((await post(a.key, batch)).json()).toEqual({ data: { received: 4, inserted: 2, duplicates: 2 } });
    expect(await stored(a.id)).toEqual([asStored(first!), asStored(second!)]);
  });

  it('stores an id sent again in a later batch once, whichever path carries it', async () => {
    await clear(a.id);
    const earlier = events(10);
    expect((await post(a.key, earlier)).json().data).toEqual({ received: 10, inserted: 10, duplicates: 0 });
    const later = [...events(COPY_THRESHOLD - 5), ...earlier.slice(0, 5)];
    expect((await post(a.key, later)).json().data).toEqual({ received: COPY_THRESHOLD, inserted: COPY_THRESHOLD - 5, duplicates: 5 });
    expect((await post(a.key, earlier.slice(5))).json().data).toEqual({ received: 5, inserted: 0, duplicates: 5 });
    const saved = await stored(a.id);
    expect(saved).toHaveLength(COPY_THRESHOLD + 5);
    expect(new Set(saved.map((event) => event.client_id)).size).toBe(saved.length);
    expect(saved.slice(0, 10)).toEqual(earlier.map(asStored));
  });

  it('keeps tenants apart: the same id in another tenant is that tenant\'s own event', async () => {
    await clear(a.id);
    await clear(b.id);
    const batch = events(3);
    expect((await post(a.key, batch)).json().data.inserted).toBe(3);
    expect((await post(b.key, batch.map((event) => ({ ...event, name: 'other' })))).json().data).toEqual({ received: 3, inserted: 3, duplicates: 0 });
    expect((await stored(a.id)).map((event) => event.name)).toEqual(batch.map((event) => event.name));
    expect((await stored(b.id)).map((event) => event.name)).toEqual(['other', 'other', 'other']);
  });

  it.each([3, COPY_THRESHOLD + 1])('stores nothing of a %i-event batch when one names another tenant\'s user', async (count) => {
    await clear(a.id);
    const batch = events(count, ada.id);
    batch[count - 1] = { ...batch[count - 1]!, userId: stranger.id };
    const response = await expectUnchanged(api.database, () => post(a.key, batch));
    expectError(response, 422, 'INTEGRITY_VIOLATION');
  });

  it('timestamps an event without one by the database clock, and takes a null user', async () => {
    await clear(a.id);
    const before = Date.now();
    const { timestamp: _left, ...event } = { ...events(1)[0]!, userId: null };
    expect((await post(a.key, [event])).statusCode).toBe(200);
    const [saved] = await stored(a.id);
    expect(saved!.user_id).toBeNull();
    expect(Date.parse(saved!.at)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('names every bad event and field and stores nothing', async () => {
    const batch: unknown[] = events(10);
    batch[1] = { ...events(1)[0]!, id: 'not-a-uuid' };
    batch[3] = { ...events(1)[0]!, distinctId: '' };
    batch[4] = { ...events(1)[0]!, name: 'x'.repeat(201) };
    batch[6] = { ...events(1)[0]!, properties: 'text' };
    batch[7] = { ...events(1)[0]!, timestamp: 'yesterday' };
    batch[8] = { ...events(1)[0]!, client: 'unknown' };
    batch[9] = { ...events(1)[0]!, name: 'lone \ud800 surrogate' };
    const response = await expectUnchanged(api.database, () => post(a.key, batch));
    const error = expectError(response, 400, 'VALIDATION_FAILED', [
      'events.1.id', 'events.3.distinctId', 'events.4.name', 'events.6.properties', 'events.7.timestamp', 'events.8.client', 'events.9.name',
    ]);
    expect(error.details).toHaveLength(7);
  });

  it('refuses a batch over 10,000 events with PAYLOAD_TOO_LARGE and stores nothing', async () => {
    const response = await expectUnchanged(api.database, () => post(a.key, events(MAX_BATCH_ROWS + 1)));
    expectError(response, 413, 'PAYLOAD_TOO_LARGE', ['events']);
  });
});

describe('POST /v1/events with an Idempotency-Key', () => {
  it('replays the first answer to a retried batch (new events, not duplicates) and stores it once', async () => {
    await clear(a.id);
    const batch = events(COPY_THRESHOLD + 2);
    const key = unique('events');
    const first = await post(a.key, batch, { 'idempotency-key': key });
    const retry = await post(a.key, batch, { 'idempotency-key': key });
    expect(first.json()).toEqual({ data: { received: COPY_THRESHOLD + 2, inserted: COPY_THRESHOLD + 2, duplicates: 0 } });
    expect({ status: retry.statusCode, body: retry.body, replayed: retry.headers['idempotent-replayed'] })
      .toEqual({ status: first.statusCode, body: first.body, replayed: 'true' });
    expect(await stored(a.id)).toHaveLength(COPY_THRESHOLD + 2);
  });

  it('refuses the same key with a different batch as IDEMPOTENCY_KEY_REUSED', async () => {
    const key = unique('events-reuse');
    expect((await post(a.key, events(2), { 'idempotency-key': key })).statusCode).toBe(200);
    const response = await expectUnchanged(api.database, () => post(a.key, events(2), { 'idempotency-key': key }));
    expectError(response, 422, 'IDEMPOTENCY_KEY_REUSED');
  });
});

describe('/v1/events authentication', () => {
  it('answers 401 to every bad key and stores nothing', async () => {
    const revoked = await seed.revokedKey(a.key);
    await expectAuthRequired(api, [{ method: 'POST', url: '/v1/events', body: { events: events(1) } }], a, revoked);
  });
});
