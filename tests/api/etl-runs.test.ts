import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { catchUp, horizonPassed, insertActivities, insertEvents } from '../etl/support.js';
import { testApi, type TestApi } from './helpers.js';
import { tenantWithUsers } from './support/tenant-with-users.js';

let api: TestApi;
let a: { id: number; key: string; users: number[] };
let b: { id: number; key: string; users: number[] };
let failedRunId: number;
let succeededRunId: number;

/** A tenant's source rows, counted apart from the API: every activity and event it has, or those no run quarantined. */
async function sourceRows(tenantId: number, { quarantined }: { quarantined: boolean }) {
  const db = api.database.admin;
  const activities = await db.selectFrom('user_activity').select((eb) => eb.fn.countAll<string>().as('rows')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  const events = await db.selectFrom('event').select((eb) => eb.fn.countAll<string>().as('rows')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  const refused = await db.selectFrom('etl_quarantine').select((eb) => eb.fn.countAll<string>().as('rows')).where('tenant_id', '=', tenantId).executeTakeFirstOrThrow();
  return Number(activities.rows) + Number(events.rows) - (quarantined ? 0 : Number(refused.rows));
}

const withoutInternals = (data: unknown) => {
  const { tenantId: _tenant, xid: _xid, ...shown } = data as Record<string, unknown>;
  return shown;
};

const activity = (tenantId: number, userId: number, type: string, day: string) => ({ tenantId, userId, type, at: `${day}T10:00:00Z` });

beforeAll(async () => {
  api = await testApi();
  a = await tenantWithUsers(api, 'a', 2);
  b = await tenantWithUsers(api, 'b', 1);
  await insertActivities(api.database, [
    activity(a.id, a.users[0]!, 'login', '2025-03-03'),
    activity(a.id, a.users[1]!, 'view', '2025-03-04'),
    activity(b.id, b.users[0]!, 'login', '2025-03-03'),
  ]);
  // Two rows of tenant A the pipeline must refuse: events dated in the far future.
  await insertEvents(api.database, [
    { tenantId: a.id, userId: a.users[0]!, name: 'clock_skew', at: '2999-01-01T00:00:00Z' },
    { tenantId: a.id, userId: a.users[1]!, name: 'clock_skew', at: '2999-02-01T00:00:00Z' },
  ]);
  await horizonPassed(api.database);
  const failed = await runPipeline(api.database);
  if (failed.status !== 'failed') throw new Error(`expected a failed run, got ${JSON.stringify(failed)}`);
  failedRunId = failed.runId;
  const next = await catchUp(api.database);
  if (next.status !== 'succeeded') throw new Error(`expected a succeeded run, got ${JSON.stringify(next)}`);
  succeededRunId = next.runId;
});

describe('GET /v1/etl-runs', () => {
  it('lists the pipeline\'s runs newest first with status, times, duration, rows and the caller\'s quarantined rows by reason', async () => {
    const response = await api.call('GET', '/v1/etl-runs', a.key);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    const stored = await api.database.admin.selectFrom('etl_run').selectAll().where('pipeline', '=', 'user-analytics').orderBy('id', 'desc').execute();
    expect(body.data.map((run: { id: number }) => run.id)).toEqual(stored.map((run) => run.id));
    const [succeeded, failed] = body.data;
    expect(succeeded).toMatchObject({
      id: succeededRunId, mode: 'incremental', status: 'succeeded', rowsRead: await sourceRows(a.id, { quarantined: false }), error: null,
      quarantined: { rows: 0, reasons: [] },
    });
    expect(succeeded.durationMs).toBe(stored[0]!.finished_at!.getTime() - stored[0]!.started_at.getTime());
    expect(new Date(succeeded.startedAt).getTime()).toBe(stored[0]!.started_at.getTime());
    expect(failed).toMatchObject({
      id: failedRunId, status: 'failed', rowsRead: await sourceRows(a.id, { quarantined: true }),
      quarantined: { rows: 2, reasons: [{ reason: expect.stringContaining('after'), rows: expect.any(Number) }] },
    });
    const reasons = failed.quarantined.reasons as { reason: string; rows: number }[];
    expect(reasons.reduce((sum, reason) => sum + reason.rows, 0)).toBe(2);
  });

  it('counts a tenant key only its own rows read, and no rows written (the platform\'s total is not its own)', async () => {
    const [ownA, ownB] = [(await api.call('GET', '/v1/etl-runs', a.key)).json(), (await api.call('GET', '/v1/etl-runs', b.key)).json()];
    const stored = await api.database.admin.selectFrom('etl_run').select(['id', 'rows_read']).where('id', 'in', [failedRunId, succeededRunId]).execute();
    const total = new Map(stored.map((run) => [run.id, run.rows_read]));
    for (const [body, tenant] of [[ownA, a], [ownB, b]] as const) {
      const byId = new Map(body.data.map((run: { id: number }) => [run.id, run]));
      expect(byId.get(failedRunId)).toMatchObject({ rowsRead: await sourceRows(tenant.id, { quarantined: true }) });
      expect(byId.get(succeededRunId)).toMatchObject({ rowsRead: await sourceRows(tenant.id, { quarantined: false }) });
      for (const run of body.data) expect(run).not.toHaveProperty('rowsWritten');
    }
    // A has four rows in the failed run, B one: neither sees the run's five, nor the other's count.
    expect(ownA.data.find((run: { id: number }) => run.id === failedRunId).rowsRead).toBe(4);
    expect(ownB.data.find((run: { id: number }) => run.id === failedRunId).rowsRead).toBe(1);
    expect(total.get(failedRunId)).toBe(5);
    expect(ownB.data.find((run: { id: number }) => run.id === succeededRunId).rowsRead).toBe(1);
    expect(ownA.data.find((run: { id: number }) => run.id === succeededRunId).rowsRead).toBe(2);
  });

  it('tells a tenant why a run failed without another tenant\'s numbers: its own quarantined rows, or none of its rows', async () => {
    const ownA = (await api.call('GET', `/v1/etl-runs/${failedRunId}`, a.key)).json().data;
    const ownB = (await api.call('GET', `/v1/etl-runs/${failedRunId}`, b.key)).json().data;
    expect(ownA.error).toBe('QUARANTINE: the run refused source rows of yours: see the quarantined rows');
    expect(ownB.error).toBe('QUARANTINE: the run refused source rows, none of them yours');
  });

  it('gives the admin key the platform\'s totals and the run\'s own error text', async () => {
    const response = await api.call('GET', '/v1/etl-runs', api.adminKey);
    expect(response.statusCode).toBe(200);
    const stored = await api.database.admin.selectFrom('etl_run').selectAll().where('pipeline', '=', 'user-analytics').orderBy('id', 'desc').execute();
    expect(response.json().data.map((run: { id: number; rowsRead: number; rowsWritten: number; error: string | null }) => [run.id, run.rowsRead, run.rowsWritten, run.error]))
      .toEqual(stored.map((run) => [run.id, run.rows_read, run.rows_written, run.error]));
    const failed = (await api.call('GET', `/v1/etl-runs/${failedRunId}`, api.adminKey)).json().data;
    expect(failed).toMatchObject({ rowsRead: 5, rowsWritten: 0, error: '2 source rows quarantined', quarantined: { rows: 2 } });
    expect(failed.quarantinedRows).toHaveLength(2);
  });

  it('says how old the watermark is and how many runs failed since the last success', async () => {
    const body = (await api.call('GET', '/v1/etl-runs', a.key)).json();
    const last = await api.database.admin.selectFrom('etl_run').select('finished_at').where('id', '=', succeededRunId).executeTakeFirstOrThrow();
    expect(body.pipeline).toMatchObject({ name: 'user-analytics', lastSucceededRunId: succeededRunId, failuresSinceLastSuccess: 0 });
    expect(new Date(body.pipeline.lastSucceededAt).getTime()).toBe(last.finished_at!.getTime());
    const age = (Date.now() - last.finished_at!.getTime()) / 1000;
    expect(body.pipeline.lagSeconds).toBeGreaterThanOrEqual(0);
    expect(body.pipeline.lagSeconds).toBeLessThanOrEqual(Math.ceil(age) + 1);
  });

  it('pages with nextCursor, each run once, and filters by status', async () => {
    const first = (await api.call('GET', '/v1/etl-runs?limit=1', a.key)).json();
    expect(first.data.map((run: { id: number }) => run.id)).toEqual([succeededRunId]);
    expect(first.nextCursor).toEqual(expect.any(String));
    const second = (await api.call('GET', `/v1/etl-runs?limit=1&cursor=${first.nextCursor}`, a.key)).json();
    expect(second.data.map((run: { id: number }) => run.id)).toEqual([failedRunId]);
    const third = (await api.call('GET', `/v1/etl-runs?limit=1&cursor=${second.nextCursor}`, a.key)).json();
    expect(third).toMatchObject({ data: [], nextCursor: null });
    const failedOnly = (await api.call('GET', '/v1/etl-runs?status=failed', a.key)).json();
    expect(failedOnly.data.map((run: { id: number }) => run.id)).toEqual([failedRunId]);
  });

  it('shows every tenant the same runs but only its own quarantined rows', async () => {
    const body = (await api.call('GET', '/v1/etl-runs', b.key)).json();
    expect(body.data.map((run: { id: number }) => run.id)).toEqual([succeededRunId, failedRunId]);
    expect(body.data[1]).toMatchObject({ id: failedRunId, status: 'failed', quarantined: { rows: 0, reasons: [] } });
  });

  it.each([
    ['an unknown status', '?status=done', 'status'],
    ['a limit of 0', '?limit=0', 'limit'],
    ['a limit over the maximum', '?limit=501', 'limit'],
    ['a cursor it did not issue', '?cursor=not-a-cursor', 'cursor'],
    ['an unknown parameter', '?tenant=1', ''],
  ])('refuses %s with VALIDATION_FAILED', async (_name, query, path) => {
    const response = await api.call('GET', `/v1/etl-runs${query}`, a.key);
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('VALIDATION_FAILED');
    if (path) expect(JSON.stringify(response.json().error.details)).toContain(path);
  });

  it('needs a key: none, or one that is not issued, is UNAUTHENTICATED', async () => {
    expect((await api.call('GET', '/v1/etl-runs', null)).json().error.code).toBe('UNAUTHENTICATED');
    expect((await api.call('GET', '/v1/etl-runs', 'sk_not_issued')).json().error.code).toBe('UNAUTHENTICATED');
  });
});

describe('GET /v1/etl-runs/{id}', () => {
  it('returns the run with the caller\'s quarantined rows: source, id, reason and the row as read', async () => {
    const response = await api.call('GET', `/v1/etl-runs/${failedRunId}`, a.key);
    expect(response.statusCode).toBe(200);
    const { data } = response.json();
    expect(data).toMatchObject({ id: failedRunId, status: 'failed', quarantined: { rows: 2 } });
    const stored = await api.database.admin.selectFrom('etl_quarantine').selectAll().where('etl_run_id', '=', failedRunId).orderBy('id').execute();
    expect(data.quarantinedRows).toEqual(stored.map((row) => ({
      source: row.source, sourceId: row.source_id, reason: row.reason, row: withoutInternals(row.row_data), createdAt: row.created_at.toISOString(),
    })));
    expect(data.quarantinedRows[0].row).not.toHaveProperty('tenantId');
    expect(data.quarantinedRows[0].row).not.toHaveProperty('xid');
    expect(data.quarantinedRows.every((row: { row: { name: string } }) => row.row.name === 'clock_skew')).toBe(true);
  });

  it('cannot see another tenant\'s quarantined rows: the run, without them', async () => {
    const { data } = (await api.call('GET', `/v1/etl-runs/${failedRunId}`, b.key)).json();
    expect(data).toMatchObject({ id: failedRunId, quarantined: { rows: 0, reasons: [] }, quarantinedRows: [] });
  });

  it('answers NOT_FOUND for a run that does not exist or belongs to another pipeline', async () => {
    const other = await api.database.admin.insertInto('etl_run').values({ pipeline: 'another-pipeline', status: 'succeeded' }).returning('id').executeTakeFirstOrThrow();
    for (const id of [other.id, other.id + 1000]) {
      const response = await api.call('GET', `/v1/etl-runs/${id}`, a.key);
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('NOT_FOUND');
    }
    const listed = (await api.call('GET', '/v1/etl-runs', a.key)).json();
    expect(listed.data.map((run: { id: number }) => run.id)).not.toContain(other.id);
  });

  it('refuses an id that is not a positive integer with VALIDATION_FAILED', async () => {
    for (const id of ['abc', '0', '-1', '1.5']) {
      const response = await api.call('GET', `/v1/etl-runs/${id}`, a.key);
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('a run failed by one tenant\'s row', () => {
  let runId: number;
  let secret: string;

  beforeAll(async () => {
    // The error a constraint raises quotes the row's key values: here tenant A's user and a value of its row.
    secret = `secret-${randomUUID()}`;
    await insertActivities(api.database, [activity(a.id, a.users[0]!, 'login', '2025-03-05')]);
    await horizonPassed(api.database);
    const message = `duplicate key value violates unique constraint "active_user_day_pkey": Key (tenant_id, user_id, name)=(${a.id}, ${a.users[0]}, ${secret}) already exists`;
    await expect(runPipeline(api.database, { hooks: { duringLoad: () => { throw new Error(message); } } })).rejects.toThrow(secret);
    const run = await api.database.admin.selectFrom('etl_run').select(['id', 'error']).orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(run.error).toContain(secret);
    runId = run.id;
  });

  it('shows another tenant no text of that row, and the tenant itself only the error\'s class', async () => {
    for (const key of [a.key, b.key]) {
      const listed = (await api.call('GET', '/v1/etl-runs', key)).body;
      const one = (await api.call('GET', `/v1/etl-runs/${runId}`, key)).body;
      for (const body of [listed, one]) {
        expect(body).not.toContain(secret);
        expect(body).not.toContain('active_user_day_pkey');
      }
      expect(JSON.parse(one).data.error).toBe('INTERNAL: the run failed and loaded nothing; the platform operators have the details');
    }
    const { data } = (await api.call('GET', `/v1/etl-runs/${runId}`, b.key)).json();
    expect(data).toMatchObject({ status: 'failed', rowsRead: 0 });
  });

  it('counts each tenant its own rows of the window the run attempted', async () => {
    const { data } = (await api.call('GET', `/v1/etl-runs/${runId}`, a.key)).json();
    expect(data.rowsRead).toBe(1);
  });

  it('shows the admin key the error as raised', async () => {
    const { data } = (await api.call('GET', `/v1/etl-runs/${runId}`, api.adminKey)).json();
    expect(data.error).toContain(secret);
  });
});
