import { beforeAll, describe, expect, it } from 'vitest';
import { catchUp, expectedActiveUsers, expectedMetrics, expectedRetention, insertActivities, insertEvents } from '../etl/support.js';
import { testApi, type TestApi } from './helpers.js';
import { tenantWithUsers } from './support/tenant-with-users.js';

let api: TestApi;
let a: { id: number; key: string; users: number[] };
let b: { id: number; key: string; users: number[] };

beforeAll(async () => {
  api = await testApi();
  a = await tenantWithUsers(api, 'a', 3);
  b = await tenantWithUsers(api, 'b', 1);
  const activity = (tenantId: number, userId: number, type: string, at: string) => ({ tenantId, userId, type, at: `${at}T10:00:00Z` });
  await insertActivities(api.database, [
    activity(a.id, a.users[0]!, 'login', '2025-03-03'),
    activity(a.id, a.users[0]!, 'login', '2025-03-04'),
    activity(a.id, a.users[1]!, 'view', '2025-03-04'),
    activity(a.id, a.users[1]!, 'login', '2025-03-12'),
    activity(a.id, a.users[2]!, 'login', '2025-04-02'),
    activity(b.id, b.users[0]!, 'login', '2025-03-03'),
  ]);
  await insertEvents(api.database, [{ tenantId: a.id, userId: null, name: 'page_view', at: '2025-03-05T00:00:00Z' }]);
  await catchUp(api.database);
});

async function runIdsOf(table: 'metric' | 'active_user_day', tenantId: number) {
  const rows = await api.database.admin.selectFrom(table).select('etl_run_id').distinct().where('tenant_id', '=', tenantId).execute();
  return rows.map((row) => row.etl_run_id).sort((x, y) => x - y);
}

describe('GET /v1/analytics/metrics', () => {
  it('returns the daily metric per dimension as loaded, with the runs it came from', async () => {
    const response = await api.call('GET', '/v1/analytics/metrics?name=activities&from=2025-03-01&to=2025-03-31', a.key);
    expect(response.statusCode).toBe(200);
    const expected = (await expectedMetrics(api.database, [a.id]))
      .filter((m) => m.name === 'activities' && m.day <= '2025-03-31')
      .map((m) => ({ period: m.day, dimension: m.dimension, value: m.value }))
      .sort((x, y) => x.period.localeCompare(y.period) || x.dimension.localeCompare(y.dimension));
    expect(expected).toHaveLength(4);
    expect(response.json()).toEqual({ data: expected, etlRunIds: await runIdsOf('metric', a.id) });
  });

  it('sums into Monday weeks and calendar months, optionally for one dimension', async () => {
    const weeks = await api.call('GET', '/v1/analytics/metrics?name=activities&from=2025-03-01&to=2025-04-30&granularity=week&dimension=login', a.key);
    expect(weeks.json().data).toEqual([
      { period: '2025-03-03', dimension: 'login', value: 2 },
      { period: '2025-03-10', dimension: 'login', value: 1 },
      { period: '2025-03-31', dimension: 'login', value: 1 },
    ]);
    const months = await api.call('GET', '/v1/analytics/metrics?name=new_users&from=2025-03-01&to=2025-04-30&granularity=month', a.key);
    expect(months.json().data).toEqual([
      { period: '2025-03-01', dimension: '', value: 2 },
      { period: '2025-04-01', dimension: '', value: 1 },
    ]);
  });

  it('shows a tenant none of another tenant\'s metrics', async () => {
    const response = await api.call('GET', '/v1/analytics/metrics?name=activities&from=2025-03-01&to=2025-04-30&granularity=month', b.key);
    expect(response.json()).toEqual({ data: [{ period: '2025-03-01', dimension: 'login', value: 1 }], etlRunIds: await runIdsOf('metric', b.id) });
  });

  it.each([
    ['an unknown granularity', 'name=activities&from=2025-03-01&to=2025-03-31&granularity=hour'],
    ['from after to', 'name=activities&from=2025-03-31&to=2025-03-01'],
    ['a day that does not exist', 'name=activities&from=2025-02-30&to=2025-03-01'],
    ['a month that does not exist', 'name=activities&from=2025-13-01&to=2025-03-01'],
    ['no day at all', 'name=activities&from=yesterday&to=2025-03-01'],
    ['an unknown metric', 'name=revenue&from=2025-03-01&to=2025-03-31'],
    ['an unknown parameter', 'name=activities&from=2025-03-01&to=2025-03-31&tenant_id=1'],
    ['a range too long to answer', 'name=activities&from=2000-01-01&to=2025-03-31'],
  ])('answers 400 VALIDATION_FAILED to %s', async (_case, query) => {
    const response = await api.call('GET', `/v1/analytics/metrics?${query}`, a.key);
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('VALIDATION_FAILED');
  });

  it('requires a tenant key', async () => {
    expect((await api.call('GET', '/v1/analytics/metrics?name=activities&from=2025-03-01&to=2025-03-31', null)).statusCode).toBe(401);
    expect((await api.call('GET', '/v1/analytics/metrics?name=activities&from=2025-03-01&to=2025-03-31', api.adminKey)).statusCode).toBe(401);
  });
});

describe('GET /v1/analytics/active-users', () => {
  it('returns DAU, WAU and MAU for each day equal to distinct users over the raw rows, with lineage', async () => {
    const response = await api.call('GET', '/v1/analytics/active-users?from=2025-03-01&to=2025-04-05', a.key);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.data).toEqual(await expectedActiveUsers(api.database, a.id, '2025-03-01', '2025-04-05'));
    expect(body.data.find((point: { day: string }) => point.day === '2025-03-04')).toEqual({ day: '2025-03-04', dau: 2, wau: 2, mau: 2 });
    expect(body.etlRunIds).toEqual(await runIdsOf('active_user_day', a.id));
  });

  it('answers 400 to from after to', async () => {
    const response = await api.call('GET', '/v1/analytics/active-users?from=2025-03-10&to=2025-03-01', a.key);
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'VALIDATION_FAILED', details: [expect.objectContaining({ message: 'from must not be after to' })] });
  });
});

describe('GET /v1/analytics/retention', () => {
  it('returns weekly cohorts equal to the raw rows\' first weeks and returns', async () => {
    const response = await api.call('GET', '/v1/analytics/retention?from=2025-03-05&weeks=5', a.key);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.data[0]).toEqual({ cohort: '2025-03-03', size: 2, retained: [2, 1, 0, 0, 0] });
    const cells = body.data.flatMap((cohort: { cohort: string; retained: number[] }) =>
      cohort.retained.map((users, offset) => ({ cohort: cohort.cohort, week_offset: offset, users }))).filter((cell: { users: number }) => cell.users > 0);
    expect(cells).toEqual(await expectedRetention(api.database, a.id, '2025-03-03', 5));
    expect(body.etlRunIds.length).toBeGreaterThan(0);
  });

  it('answers 400 to a number of weeks out of range', async () => {
    expect((await api.call('GET', '/v1/analytics/retention?from=2025-03-05&weeks=0', a.key)).statusCode).toBe(400);
    expect((await api.call('GET', '/v1/analytics/retention?from=2025-03-05&weeks=53', a.key)).statusCode).toBe(400);
  });
});

describe('/v1/reports', () => {
  it('creates a report, lists it newest first with its lineage, and returns it by id', async () => {
    const created = await api.call('POST', '/v1/reports', a.key, { kind: 'weekly_activity', from: '2025-03-03', to: '2025-03-16' });
    expect(created.statusCode).toBe(201);
    const report = created.json().data;
    expect(report).toMatchObject({ kind: 'weekly_activity', periodStart: '2025-03-03', periodEnd: '2025-03-16' });
    expect(report).not.toHaveProperty('tenantId');
    expect(report.body.weeks.map((week: { activeUsers: number }) => week.activeUsers)).toEqual([2, 1]);
    expect(report.etlRunIds).toEqual(await runIdsOf('metric', a.id));

    const second = (await api.call('POST', '/v1/reports', a.key, { kind: 'retention_cohort', from: '2025-03-03', to: '2025-03-16' })).json().data;
    const firstPage = await api.call('GET', '/v1/reports?limit=1', a.key);
    expect(firstPage.json().data).toEqual([expect.objectContaining({ id: second.id, kind: 'retention_cohort', etlRunIds: second.etlRunIds })]);
    const nextPage = await api.call('GET', `/v1/reports?limit=1&cursor=${firstPage.json().nextCursor}`, a.key);
    expect(nextPage.json().data.map((row: { id: number }) => row.id)).toEqual([report.id]);
    expect((await api.call('GET', '/v1/reports?kind=weekly_activity', a.key)).json().data.map((row: { id: number }) => row.id)).toEqual([report.id]);

    const fetched = await api.call('GET', `/v1/reports/${report.id}`, a.key);
    expect(fetched.statusCode).toBe(200);
    expect(fetched.json().data).toEqual(report);
  });

  it('hides a tenant\'s reports from another tenant: absent from its list, 404 by id', async () => {
    const created = (await api.call('POST', '/v1/reports', a.key, { kind: 'weekly_activity', from: '2025-03-03', to: '2025-03-09' })).json().data;
    const fromB = await api.call('GET', `/v1/reports/${created.id}`, b.key);
    expect(fromB.statusCode).toBe(404);
    expect(fromB.json().error.code).toBe('NOT_FOUND');
    expect((await api.call('GET', '/v1/reports', b.key)).json()).toEqual({ data: [], nextCursor: null });
  });

  it('answers 400 VALIDATION_FAILED to a bad kind, from after to, or a bad cursor', async () => {
    for (const body of [{ kind: 'daily', from: '2025-03-03', to: '2025-03-09' }, { kind: 'weekly_activity', from: '2025-03-09', to: '2025-03-03' }]) {
      const response = await api.call('POST', '/v1/reports', a.key, body);
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('VALIDATION_FAILED');
    }
    expect((await api.call('GET', '/v1/reports?cursor=nope', a.key)).statusCode).toBe(400);
  });
});
