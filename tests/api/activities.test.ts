import { connect } from 'node:net';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_BATCH_ROWS } from '../../src/api/ingest.js';
import { COPY_THRESHOLD } from '../../src/db/copy.js';
import { expectAuthRequired } from './support/auth.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { forgedCursors, walkPages } from './support/pages.js';
import { unique } from './support/seed.js';
import { twoTenants, type ApiTenant, type Seeder } from './support/two-tenants.js';

let api: CheckedApi, seed: Seeder, a: ApiTenant, b: ApiTenant;
let ada: { id: number };
let bob: { id: number };
let stranger: { id: number };

beforeAll(async () => {
  ({ api, seed, a, b } = await twoTenants(checkedApi(), 'Activities'));
  ada = await seed.user(a.key);
  bob = await seed.user(a.key);
  stranger = await seed.user(b.key);
});

interface ApiActivity {
  userId: number;
  type: string;
  metadata?: Record<string, unknown>;
  createdAt?: string;
}

const types = ['login', 'view', 'purchase', 'search:run', 'export.csv'];

function batch(count: number, userIds: number[], from = Date.UTC(2026, 10, 1)): ApiActivity[] {
  return Array.from({ length: count }, (_, index) => ({
    userId: userIds[index % userIds.length]!,
    type: types[index % types.length]!,
    metadata: { index, tag: `t${index % 7}`, text: index % 3 === 0 ? 'tab\tnewline\nback\\slash "q" \\N' : 'plain' },
    createdAt: new Date(from + index * 1000).toISOString(),
  }));
}

async function stored(tenantId: number) {
  const { rows } = await sql<{ id: number; user_id: number; activity_type: string; metadata: Record<string, unknown>; at: string }>`
    select id, user_id, activity_type, metadata, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as at
    from user_activity where tenant_id = ${tenantId} order by id`.execute(api.database.admin);
  return rows;
}

const countOf = async (tenantId: number) => (await stored(tenantId)).length;

async function clear(tenantId: number) {
  await sql`delete from user_activity where tenant_id = ${tenantId}`.execute(api.database.admin);
}

const isoMicros = (iso: string) => new Date(iso).toISOString().replace('Z', '000');

describe('POST /v1/activities', () => {
  it.each([
    ['one INSERT … SELECT FROM unnest', 3],
    ['COPY through a staging table', COPY_THRESHOLD],
    ['COPY, at the 10,000-row limit (over the 1 MB default body limit)', MAX_BATCH_ROWS],
  ])('stores every row with its fields through %s (%i rows)', async (_path, count) => {
    await clear(a.id);
    const rows = batch(count, [ada.id, bob.id]);
    const response = await api.call('POST', '/v1/activities', a.key, { activities: rows });
    expect(response.statusCode, response.body).toBe(201);
    expect(response.json()).toEqual({ data: { inserted: count } });
    const saved = await stored(a.id);
    expect(saved).toHaveLength(count);
    expect(saved.map((row) => ({ userId: row.user_id, type: row.activity_type, metadata: row.metadata, createdAt: row.at })))
      .toEqual(rows.map((row) => ({ ...row, createdAt: isoMicros(row.createdAt!) })));
  });

  it('keeps the microseconds a client sends, and lets the database clock time a row without createdAt', async () => {
    await clear(a.id);
    const before = Date.now();
    const response = await api.call('POST', '/v1/activities', a.key, {
      activities: [{ userId: ada.id, type: 'late', createdAt: '2026-02-28T23:59:59.123456+02:00' }, { userId: ada.id, type: 'now' }],
    });
    expect(response.statusCode).toBe(201);
    const [late, now] = await stored(a.id);
    expect(late!.at).toBe('2026-02-28T21:59:59.123456');
    expect(Date.parse(`${now!.at}Z`)).toBeGreaterThanOrEqual(before - 1000);
    expect(now!.metadata).toEqual({});
  });

  it('refuses a batch over 10,000 rows with PAYLOAD_TOO_LARGE and stores nothing', async () => {
    const response = await expectUnchanged(api.database, () => api.call('POST', '/v1/activities', a.key, { activities: batch(MAX_BATCH_ROWS + 1, [ada.id]) }));
    expectError(response, 413, 'PAYLOAD_TOO_LARGE', ['activities']);
  });

  it('refuses a body over the ingest body limit with PAYLOAD_TOO_LARGE', async () => {
    const huge = 'x'.repeat(17 * 1024 * 1024);
    const response = await expectUnchanged(api.database, () => api.call('POST', '/v1/activities', a.key, { activities: [{ userId: ada.id, type: 'x', metadata: { huge } }] }));
    expectError(response, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('names every bad row and field (unknown ones too) and stores nothing of the batch', async () => {
    const rows: unknown[] = batch(20, [ada.id]);
    rows[2] = { userId: ada.id, type: 'not valid!' };
    rows[5] = { userId: -1, type: 'x' };
    rows[7] = { userId: ada.id, type: 'x', metadata: [1, 2] };
    rows[9] = { userId: ada.id, type: 'x', createdAt: '2026-02-30T10:00:00Z' };
    rows[11] = { userId: ada.id, type: 'x', createdAt: new Date(Date.now() + 3 * 86_400_000).toISOString() };
    rows[13] = { userId: ada.id, type: 'x', activityType: 'x' };
    rows[15] = { userId: ada.id, type: 'x', metadata: { nul: 'a\u0000b' } };
    const response = await expectUnchanged(api.database, () => api.call('POST', '/v1/activities', a.key, { activities: rows }));
    const error = expectError(response, 400, 'VALIDATION_FAILED', [
      'activities.2.type', 'activities.5.userId', 'activities.7.metadata', 'activities.9.createdAt', 'activities.11.createdAt',
      'activities.13.activityType', 'activities.15.metadata',
    ]);
    expect(error.details).toHaveLength(7);
  });

  it.each([
    ['an empty batch', { activities: [] }, 'activities'],
    ['no batch', {}, 'activities'],
    ['a batch that is not a list', { activities: { userId: 1 } }, 'activities'],
    ['an unknown top-level field', { activities: [{ userId: 1, type: 'x' }], extra: true }, 'extra'],
  ])('refuses %s with VALIDATION_FAILED', async (_case, body, path) => {
    const response = await expectUnchanged(api.database, () => api.call('POST', '/v1/activities', a.key, body));
    expectError(response, 400, 'VALIDATION_FAILED', [path]);
  });

  it.each([5, COPY_THRESHOLD + 1])('stores nothing of a %i-row batch when one row names another tenant\'s user', async (count) => {
    await clear(a.id);
    const rows = batch(count, [ada.id]);
    rows[count - 1] = { ...rows[count - 1]!, userId: stranger.id };
    const response = await expectUnchanged(api.database, () => api.call('POST', '/v1/activities', a.key, { activities: rows }));
    expectError(response, 422, 'INTEGRITY_VIOLATION');
  });
});

describe('POST /v1/activities with an Idempotency-Key', () => {
  const post = (key: string, body: unknown, idempotencyKey: string) =>
    api.call('POST', '/v1/activities', key, body, { 'idempotency-key': idempotencyKey });

  it('stores a retried batch once and answers the retry with the same status and body, marked as replayed', async () => {
    await clear(a.id);
    const body = { activities: batch(COPY_THRESHOLD + 5, [ada.id, bob.id]) };
    const key = unique('retry');
    const first = await post(a.key, body, key);
    const retry = await post(a.key, body, key);
    expect(first.statusCode).toBe(201);
    expect({ status: retry.statusCode, body: retry.body }).toEqual({ status: first.statusCode, body: first.body });
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    expect(retry.headers['idempotent-replayed']).toBe('true');
    expect(await countOf(a.id)).toBe(COPY_THRESHOLD + 5);
  });

  it('stores once when the first response was lost on the way: the request committed, the client never read the answer', async () => {
    await clear(a.id);
    const address = new URL(await api.app.listen({ host: '127.0.0.1', port: 0 }));
    const key = unique('dropped');
    const payload = JSON.stringify({ activities: batch(50, [ada.id]) });
    // A raw socket: send the whole request, and once it has committed, hang up without reading a byte of the answer.
    const socket = connect(Number(address.port), address.hostname);
    socket.pause();
    await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
    socket.write([
      'POST /v1/activities HTTP/1.1', `Host: ${address.host}`, `Authorization: Bearer ${a.key}`, 'Content-Type: application/json',
      `Idempotency-Key: ${key}`, `Content-Length: ${Buffer.byteLength(payload)}`, '', payload,
    ].join('\r\n'));
    const deadline = Date.now() + 20_000;
    while ((await countOf(a.id)) < 50 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    socket.destroy();
    expect(await countOf(a.id)).toBe(50);

    const retry = await fetch(`${address.origin}/v1/activities`, {
      method: 'POST', body: payload, headers: { authorization: `Bearer ${a.key}`, 'content-type': 'application/json', 'idempotency-key': key },
    });
    expect(retry.status).toBe(201);
    expect(retry.headers.get('idempotent-replayed')).toBe('true');
    expect(await retry.json()).toEqual({ data: { inserted: 50 } });
    expect(await countOf(a.id)).toBe(50);
  });

  it('stores once when the same batch and key arrive concurrently; both callers get the same answer', async () => {
    await clear(a.id);
    const body = { activities: batch(COPY_THRESHOLD, [ada.id]) };
    const key = unique('race');
    const answers = await Promise.all([1, 2, 3].map(() => post(a.key, body, key)));
    expect(answers.map((answer) => [answer.statusCode, answer.body])).toEqual(Array(3).fill([201, JSON.stringify({ data: { inserted: COPY_THRESHOLD } })]));
    expect(answers.filter((answer) => answer.headers['idempotent-replayed'] === 'true')).toHaveLength(2);
    expect(await countOf(a.id)).toBe(COPY_THRESHOLD);
  });

  it('refuses the same key with a different batch as IDEMPOTENCY_KEY_REUSED and stores nothing more', async () => {
    await clear(a.id);
    const key = unique('reuse');
    expect((await post(a.key, { activities: batch(3, [ada.id]) }, key)).statusCode).toBe(201);
    const response = await expectUnchanged(api.database, () => post(a.key, { activities: batch(4, [ada.id]) }, key));
    expectError(response, 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await countOf(a.id)).toBe(3);
  });

  it('keeps no key for a batch that failed: the corrected batch may reuse it', async () => {
    await clear(a.id);
    const key = unique('failed');
    const rows = batch(3, [ada.id]);
    expectError(await post(a.key, { activities: [...rows, { userId: stranger.id, type: 'x' }] }, key), 422, 'INTEGRITY_VIOLATION');
    expect((await post(a.key, { activities: rows }, key)).statusCode).toBe(201);
    expect(await countOf(a.id)).toBe(3);
  });

  it('scopes keys to the tenant: another tenant\'s batch under the same key is its own', async () => {
    await clear(a.id);
    await clear(b.id);
    const key = unique('shared');
    expect((await post(a.key, { activities: batch(2, [ada.id]) }, key)).statusCode).toBe(201);
    const other = await post(b.key, { activities: batch(3, [stranger.id]) }, key);
    expect(other.statusCode).toBe(201);
    expect(other.headers['idempotent-replayed']).toBeUndefined();
    expect(other.json()).toEqual({ data: { inserted: 3 } });
    expect([await countOf(a.id), await countOf(b.id)]).toEqual([2, 3]);
  });

  it.each([['too long', 'k'.repeat(201)], ['with a control character', 'bad\u0001key'], ['sent twice', ['one', 'two']]])(
    'refuses a key %s with VALIDATION_FAILED and stores nothing', async (_case, value) => {
      const response = await expectUnchanged(api.database, () => api.app.inject({
        method: 'POST', url: '/v1/activities', payload: { activities: batch(2, [ada.id]) },
        headers: { authorization: `Bearer ${a.key}`, 'idempotency-key': value },
      }));
      expectError(response, 400, 'VALIDATION_FAILED', ['Idempotency-Key']);
    },
  );
});

describe('GET /v1/activities', () => {
  let reference: Record<string, unknown>[];

  beforeAll(async () => {
    await clear(a.id);
    await clear(b.id);
    const rows: ApiActivity[] = [
      { userId: ada.id, type: 'purchase', createdAt: '2026-03-01T10:00:00Z', metadata: { order: { id: 'o-1' }, total: 10 } },
      { userId: bob.id, type: 'purchase', createdAt: '2026-03-02T10:00:00Z', metadata: { order: { id: 'o-2' }, total: 20 } },
      { userId: ada.id, type: 'view', createdAt: '2026-03-03T10:00:00Z', metadata: { page: '/pricing' } },
      { userId: ada.id, type: 'purchase', createdAt: '2026-03-04T10:00:00Z', metadata: { order: { id: 'o-3' }, total: 10 } },
    ];
    expect((await api.call('POST', '/v1/activities', a.key, { activities: rows })).statusCode).toBe(201);
    // 25 rows sharing one timestamp: pages must cut between them without skipping or repeating.
    const same = Array.from({ length: 25 }, (_, index) => ({ userId: bob.id, type: 'tick', metadata: { index }, createdAt: '2026-03-05T00:00:00Z' }));
    expect((await api.call('POST', '/v1/activities', a.key, { activities: same })).statusCode).toBe(201);
    expect((await api.call('POST', '/v1/activities', b.key, { activities: [{ userId: stranger.id, type: 'purchase', metadata: { total: 10 } }] })).statusCode).toBe(201);
    reference = (await api.call('GET', '/v1/activities?limit=500', a.key)).json().data;
  });

  const days = async (query: string, key = a.key) => {
    const response = await api.call('GET', `/v1/activities?${query}`, key);
    expect(response.statusCode, response.body).toBe(200);
    return (response.json().data as { createdAt: string }[]).map((row) => new Date(row.createdAt).getUTCDate());
  };

  it('answers newest first in the API\'s own field names', () => {
    expect(reference).toHaveLength(29);
    expect(reference[28]).toEqual({
      id: expect.any(Number), userId: ada.id, type: 'purchase', metadata: { order: { id: 'o-1' }, total: 10 }, createdAt: '2026-03-01T10:00:00.000Z',
    });
  });

  it('filters by user, type, time range and metadata containment', async () => {
    expect(await days(`userId=${ada.id}`)).toEqual([4, 3, 1]);
    expect(await days(`userId=${ada.id}&type=purchase`)).toEqual([4, 1]);
    expect(await days(`since=2026-03-02T00:00:00Z&until=2026-03-04T10:00:00Z`)).toEqual([3, 2]);
    expect(await days(`metadata=${encodeURIComponent('{"total":10}')}`)).toEqual([4, 1]);
    expect(await days(`metadata=${encodeURIComponent('{"order":{"id":"o-2"}}')}&type=purchase`)).toEqual([2]);
    expect(await days(`metadata=${encodeURIComponent('{"order":{"id":"o-9"}}')}`)).toEqual([]);
  });

  it('pages through every row exactly once, rows that share a timestamp included', async () => {
    for (const limit of [1, 7, 29, 30]) {
      const { rows, pages } = await walkPages(api, '/v1/activities', a.key, limit);
      expect(rows.map((row) => row.id)).toEqual(reference.map((row) => row.id));
      expect(pages).toBe(Math.floor(29 / limit) + 1);
    }
  });

  it('never shows another tenant\'s activities, whatever the filter', async () => {
    const mine = (await api.call('GET', '/v1/activities', b.key)).json().data as { userId: number }[];
    expect(mine.map((row) => row.userId)).toEqual([stranger.id]);
    expect(await days(`userId=${ada.id}`, b.key)).toEqual([]);
    expect(await days(`metadata=${encodeURIComponent('{"total":10}')}`, b.key)).toHaveLength(1);
    const cursor = (await api.call('GET', '/v1/activities?limit=1', a.key)).json().nextCursor;
    expect(await days(`cursor=${cursor}`, b.key)).toEqual([]);
  });

  it.each([
    ['metadata that is not JSON', `metadata=${encodeURIComponent('{total:10}')}`, 'metadata'],
    ['metadata that is not an object', `metadata=${encodeURIComponent('[1]')}`, 'metadata'],
    ['a malformed time', 'since=yesterday', 'since'],
    ['a bad type', 'type=not%20valid', 'type'],
    ['a bad user id', 'userId=-3', 'userId'],
    ['a limit over 500', 'limit=501', 'limit'],
    ['an unknown parameter', 'user=1', 'user'],
  ])('refuses %s with VALIDATION_FAILED', async (_case, query, path) => {
    expectError(await api.call('GET', `/v1/activities?${query}`, a.key), 400, 'VALIDATION_FAILED', [path]);
  });

  it('refuses every cursor it did not issue', async () => {
    for (const cursor of forgedCursors) {
      expectError(await api.call('GET', `/v1/activities?cursor=${encodeURIComponent(cursor)}`, a.key), 400, 'VALIDATION_FAILED', ['cursor']);
    }
  });
});

describe('/v1/activities authentication', () => {
  it('answers 401 to every bad key and changes nothing', async () => {
    const revoked = await seed.revokedKey(a.key);
    await expectAuthRequired(api, [
      { method: 'GET', url: '/v1/activities' },
      { method: 'POST', url: '/v1/activities', body: { activities: [{ userId: ada.id, type: 'login' }] } },
    ], a, revoked);
  });
});
