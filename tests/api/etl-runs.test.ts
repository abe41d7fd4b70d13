import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { catchUp, horizonPassed, insertActivities, insertEvents } from '../etl/support.js';
import { testApi, type TestApi } from './helpers.js';

let api: TestApi;
let a: { id: number; key: string; users: number[] };
let b: { id: number; key: string; users: number[] };
let failedRunId: number;
let succeededRunId: number;

async function tenantWithUsers(name: string, count: number) {
  const tenant = await api.tenant(name);
  const users = await api.database.admin.insertInto('app_user').values(Array.from({ length: count }, (_, index) => ({
    tenant_id: tenant.id, email: `${name}${index}-${randomUUID().slice(0, 6)}@example.com`, username: `${name}${index}`,
  }))).returning('id').execute();
  return { ...tenant, users: users.map((user) => user.id) };
}

const withoutInternals = (data: unknown) => {
  const { tenantId: _tenant, xid: _xid, ...shown } = data as Record<string, unknown>;
  return shown;
};

const activity = (tenantId: number, userId: number, type: string, day: string) => ({ tenantId, userId, type, at: `${day}T10:00:00Z` });

beforeAll(async () => {
  api = await testApi();
  a = await tenantWithUsers('a', 2);
  b = await tenantWithUsers('b', 1);
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
      id: succeededRunId, mode: 'incremental', status: 'succeeded', rowsRead: 3, rowsWritten: stored[0]!.rows_written, error: null,
      quarantined: { rows: 0, reasons: [] },
    });
    expect(succeeded.durationMs).toBe(stored[0]!.finished_at!.getTime() - stored[0]!.started_at.getTime());
    expect(new Date(succeeded.startedAt).getTime()).toBe(stored[0]!.started_at.getTime());
    expect(failed).toMatchObject({
      id: failedRunId, status: 'failed', rowsRead: 5, rowsWritten: 0, error: '2 source rows quarantined',
      quarantined: { rows: 2, reasons: [{ reason: expect.stringContaining('after'), rows: expect.any(Number) }] },
    });
    const reasons = failed.quarantined.reasons as { reason: string; rows: number }[];
    expect(reasons.reduce((sum, reason) => sum + reason.rows, 0)).toBe(2);
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

  it('needs a tenant key: none is UNAUTHENTICATED, and so is the admin key', async () => {
    expect((await api.call('GET', '/v1/etl-runs', null)).json().error.code).toBe('UNAUTHENTICATED');
    expect((await api.call('GET', '/v1/etl-runs', api.adminKey)).json().error.code).toBe('UNAUTHENTICATED');
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
