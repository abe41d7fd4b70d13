import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { lastWatermark, uncountedBy, type Watermark } from '../../src/repositories/pipeline-watermark.js';
import { backfill, PIPELINE, pipelineStatus } from '../../src/etl/user-analytics/pipeline.js';
import { createReport, generateWeeklyReports } from '../../src/services/reports.js';
import { addDays, weekStart } from '../../src/models/analytics.js';
import { AnalyticsRepository } from '../../src/repositories/analytics-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  catchUp, expectedActiveUserDays, expectedMetrics, horizonPassed, insertActivities, insertEvents, lineageViolations,
  loadedActiveUserDays, loadedMetrics, paths, seedTenant, succeeded, type SeededTenant,
} from './support.js';

let database: TestDatabase;
let tenant: SeededTenant;

/** A backfill's windows: on each node the watermark has reached, every transaction below it. */
const belowWatermark = (watermark: Watermark) =>
  [...watermark.xids].sort(([a], [b]) => a - b).map(([node, xid]) => ({ node, xidFrom: '0', xidTo: xid }));

beforeAll(async () => {
  database = await migratedDatabase();
  tenant = await seedTenant(database, 4);
  const [u0, u1, u2, u3] = tenant.userIds as [number, number, number, number];
  const t = tenant.tenantId;
  await insertActivities(database, [
    { tenantId: t, userId: u0, type: 'login', at: '2025-06-02T08:00:00Z' },
    { tenantId: t, userId: u0, type: 'login', at: '2025-06-03T08:00:00Z' },
    { tenantId: t, userId: u1, type: 'view', at: '2025-06-04T08:00:00Z' },
    { tenantId: t, userId: u0, type: 'view', at: '2025-06-10T08:00:00Z' },
    { tenantId: t, userId: u2, type: 'login', at: '2025-06-11T08:00:00Z' },
    { tenantId: t, userId: u1, type: 'login', at: '2025-06-17T08:00:00Z' },
  ]);
  await insertEvents(database, [
    { tenantId: t, userId: u3, name: 'signup', at: '2025-06-12T08:00:00Z' },
    { tenantId: t, userId: null, name: 'page_view', at: '2025-06-12T09:00:00Z' },
  ]);
  succeeded(await catchUp(database));
});

/** Everything a backfill batch may write: every tenant's derived rows, every etl_run row, the watermark. */
async function derivedState() {
  const runs = await database.admin.selectFrom('etl_run').selectAll().orderBy('id').execute();
  return {
    metrics: await database.admin.selectFrom('metric').selectAll().orderBy('tenant_id').orderBy('name').orderBy('dimension').orderBy('day').execute(),
    days: await database.admin.selectFrom('active_user_day').selectAll().orderBy('tenant_id').orderBy('day').orderBy('user_id').execute(),
    runs,
    lastRunId: runs.at(-1)?.id ?? 0,
    watermark: await lastWatermark(database.admin, PIPELINE),
  };
}

async function expectExact(tenantIds: number[]) {
  expect(await loadedMetrics(database, tenantIds)).toEqual(await expectedMetrics(database, tenantIds));
  expect(await loadedActiveUserDays(database, tenantIds)).toEqual(await expectedActiveUserDays(database, tenantIds));
}

describe('createReport', () => {
  it('summarises each Monday week: activity and event totals by kind, distinct active users and new users', async () => {
    const report = await withTenant(database, { tenantId: tenant.tenantId }, (trx) =>
      createReport(trx, { kind: 'weekly_activity', from: '2025-06-04', to: '2025-06-12' }));
    expect(report).toMatchObject({ kind: 'weekly_activity', period_start: '2025-06-02', period_end: '2025-06-15' });
    expect(report.body).toEqual({
      weeks: [
        { weekStart: '2025-06-02', activities: 3, activitiesByType: { login: 2, view: 1 }, events: 0, eventsByName: {}, activeUsers: 2, newUsers: 2 },
        { weekStart: '2025-06-09', activities: 2, activitiesByType: { login: 1, view: 1 }, events: 2, eventsByName: { signup: 1, page_view: 1 }, activeUsers: 3, newUsers: 2 },
      ],
    });
    const runs = await database.admin.selectFrom('metric').select('etl_run_id').distinct()
      .where('tenant_id', '=', tenant.tenantId).where('day', '>=', '2025-06-02').where('day', '<=', '2025-06-15').execute();
    expect(report.etl_run_ids).toEqual(runs.map((row) => row.etl_run_id).sort((a, b) => a - b));
  });

  it('tabulates weekly retention cohorts over whole weeks', async () => {
    const report = await withTenant(database, { tenantId: tenant.tenantId }, (trx) =>
      createReport(trx, { kind: 'retention_cohort', from: '2025-06-02', to: '2025-06-18' }));
    expect(report).toMatchObject({ period_start: '2025-06-02', period_end: '2025-06-22' });
    expect(report.body).toEqual({
      weeks: 3,
      cohorts: [
        // u0 and u1 start in week 0; u0 returns in week 1, u1 in week 2.
        { cohort: '2025-06-02', size: 2, retained: [2, 1, 1] },
        { cohort: '2025-06-09', size: 2, retained: [2, 0] },
        { cohort: '2025-06-16', size: 0, retained: [0] },
      ],
    });
    expect(report.etl_run_ids.length).toBeGreaterThan(0);
  });

  it('refuses a range that ends before it starts', async () => {
    await expect(withTenant(database, { tenantId: tenant.tenantId }, (trx) =>
      createReport(trx, { kind: 'retention_cohort', from: '2025-06-10', to: '2025-06-01' }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('counts a period ending on a Monday as reaching into that Monday\'s week', async () => {
    const report = await withTenant(database, { tenantId: tenant.tenantId }, (trx) =>
      createReport(trx, { kind: 'retention_cohort', from: '2025-06-02', to: '2025-06-09' }));
    expect(report).toMatchObject({ period_start: '2025-06-02', period_end: '2025-06-15', body: { weeks: 2 } });
  });
});

describe('generateWeeklyReports', () => {
  it('stores both reports of a week for each tenant with analytics in it, once however often it runs', async () => {
    const other = await seedTenant(database, 1, 'Quiet');
    const first = await generateWeeklyReports(database, { now: new Date('2025-06-16T02:00:00Z') });
    expect(first).toEqual({ week: '2025-06-09', tenants: 1, created: 2 });
    expect(await generateWeeklyReports(database, { week: '2025-06-11' })).toEqual({ week: '2025-06-09', tenants: 1, created: 0 });
    const stored = await database.admin.selectFrom('report').select(['tenant_id', 'kind', 'period_start', 'period_end'])
      .where('period_end', '=', '2025-06-15').where('period_start', 'in', ['2025-06-09', addDays('2025-06-09', -49)])
      .orderBy('kind').execute();
    expect(stored).toEqual([
      { tenant_id: tenant.tenantId, kind: 'retention_cohort', period_start: addDays('2025-06-09', -49), period_end: '2025-06-15' },
      { tenant_id: tenant.tenantId, kind: 'weekly_activity', period_start: '2025-06-09', period_end: '2025-06-15' },
    ]);
    expect(stored.some((row) => row.tenant_id === other.tenantId)).toBe(false);
  });
});

describe('backfill', () => {
  it.each(paths)('rebuilds damaged days from the raw rows, a batch of days per run, reporting progress (%s path)', async (_name, path) => {
    const t = tenant.tenantId;
    await database.admin.updateTable('metric').set((eb) => ({ value: eb('value', '+', 5) })).where('tenant_id', '=', t).where('day', '=', '2025-06-03').execute();
    await database.admin.deleteFrom('active_user_day').where('tenant_id', '=', t).where('day', '=', '2025-06-11').execute();
    await database.admin.deleteFrom('metric').where('tenant_id', '=', t).where('name', '=', 'new_users').execute();
    const watermark = await lastWatermark(database.admin, PIPELINE);

    const progress: Array<[number, number]> = [];
    const result = await backfill(database, { ...path, from: '2025-06-01', to: '2025-06-14', daysPerBatch: 5, onProgress: (done, total) => progress.push([done, total]) });
    expect(result).toMatchObject({ days: 14, rowsRead: 7 });
    expect(result.runIds).toHaveLength(3);
    expect(progress).toEqual([[0, 14], [5, 14], [10, 14], [14, 14]]);
    await expectExact([t]);
    expect(await lastWatermark(database.admin, PIPELINE)).toEqual(watermark);
    const runs = await database.admin.selectFrom('etl_run').select(['mode', 'status', 'checksums']).where('id', 'in', result.runIds).execute();
    expect(runs).toEqual(result.runIds.map(() => ({ mode: 'backfill', status: 'succeeded', checksums: expect.objectContaining({ windows: belowWatermark(watermark) }) })));
    const lineage = await lineageViolations(database);
    expect({ metrics: lineage.metrics, userDays: lineage.userDays }).toEqual({ metrics: [], userDays: [] });
  });

  it.each(paths)('leaves rows the incremental runs have not read yet to them, so nothing is counted twice (%s path)', async (_name, path) => {
    const t = tenant.tenantId;
    await insertActivities(database, [{ tenantId: t, userId: tenant.userIds[3]!, type: 'login', at: '2025-06-03T12:00:00Z' }]);
    await horizonPassed(database);
    const before = await loadedMetrics(database, [t]);
    await backfill(database, { ...path, from: '2025-06-03', to: '2025-06-03' });
    expect(await loadedMetrics(database, [t])).toEqual(before);
    succeeded(await catchUp(database));
    await expectExact([t]);
  });

  it.each(paths)('changes nothing when a batch fails, and records the failed backfill run (%s path)', async (_name, path) => {
    const before = await loadedMetrics(database, [tenant.tenantId]);
    const state = await derivedState();
    // Source rows of the batch's days below the watermark: what the failed batch read before it threw.
    const { rows: [window] } = await sql<{ rows: number }>`
      select (select count(*) from user_activity where (created_at at time zone 'UTC')::date between '2025-06-01' and '2025-06-07'
                and not ${uncountedBy(state.watermark.xids)})
           + (select count(*) from event where (occurred_at at time zone 'UTC')::date between '2025-06-01' and '2025-06-07'
                and not ${uncountedBy(state.watermark.xids)}) as rows`.execute(database.admin);
    expect(window!.rows).toBeGreaterThan(0);
    // One batch (7 days): the hook throws after clearDays, the reloads and recountNewUsers have run.
    await expect(backfill(database, { ...path, from: '2025-06-01', to: '2025-06-07', hooks: { duringLoad: () => { throw new Error('disk full'); } } }))
      .rejects.toThrow('disk full');
    expect(await loadedMetrics(database, [tenant.tenantId])).toEqual(before);
    const after = await derivedState();
    // Every metric and active user day (with the run it names and when it was written), every earlier
    // etl_run row as it was, and the watermark: a committed batch would name its run on the rows it rewrote.
    const unchanged = ({ metrics, days, runs, watermark }: typeof state) => ({ metrics, days, runs: runs.filter((run) => run.id <= state.lastRunId), watermark });
    expect(unchanged(after)).toEqual(unchanged(state));
    const failed = await database.admin.selectFrom('etl_run').select(['mode', 'status', 'error']).orderBy('id', 'desc').limit(1).executeTakeFirstOrThrow();
    expect(failed).toEqual({ mode: 'backfill', status: 'failed', error: 'disk full' });
    const added = after.runs.filter((run) => run.id > state.lastRunId);
    expect(added).toEqual([expect.objectContaining({
      pipeline: PIPELINE, mode: 'backfill', status: 'failed', error: 'disk full',
      checksums: expect.objectContaining({ windows: belowWatermark(state.watermark) }), rows_read: window!.rows, rows_written: 0,
    })]);
    expect(added[0]!.finished_at).not.toBeNull();
  });

  it('records an empty run for days without rows', async () => {
    const result = await backfill(database, { from: '2001-01-01', to: '2001-01-01' });
    expect(result).toMatchObject({ days: 1, rowsRead: 0 });
    expect(result.runIds).toHaveLength(1);
  });

  it('refuses a range that ends before it starts', async () => {
    await expect(backfill(database, { from: '2025-06-10', to: '2025-06-01' })).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('stops at a batch with rows it must quarantine, loading nothing of that batch', async () => {
    const own = await seedTenant(database, 1, 'Skewed');
    await insertActivities(database, [{ tenantId: own.tenantId, userId: own.userIds[0]!, type: 'login', at: '2024-12-02T00:00:00Z' }]);
    succeeded(await catchUp(database));
    // Seen from a clock set to 2020, a row of 2024 lies in the future.
    await expect(backfill(database, { from: '2024-12-01', to: '2024-12-03', now: new Date('2020-01-01T00:00:00Z') }))
      .rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('1 source rows quarantined') });
    expect(await loadedMetrics(database, [own.tenantId])).toHaveLength(2);
  });
});

describe('pipelineStatus', () => {
  it('reports pending rows, the last success, failures since it and quarantined rows', async () => {
    await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-06-20T00:00:00Z' }]);
    await insertEvents(database, [{ tenantId: tenant.tenantId, userId: null, name: 'x', at: '2025-06-20T00:00:00Z' }]);
    const before = await pipelineStatus(database, { limit: 3 });
    expect(before).toMatchObject({ pipeline: PIPELINE, busy: false, pending: { user_activity: 1, event: 1 }, quarantined: 1 });
    expect(before.runs).toHaveLength(3);
    expect(before.runs[0]!.id).toBeGreaterThan(before.runs[1]!.id);
    expect(before.failuresSinceLastSuccess).toBeGreaterThanOrEqual(1);
    succeeded(await catchUp(database));
    const after = await pipelineStatus(database);
    expect(after).toMatchObject({ pending: { user_activity: 0, event: 0 }, failuresSinceLastSuccess: 0 });
    expect(after.lagSeconds).toBeGreaterThanOrEqual(0);
    expect(after.lastSucceededAt).toBeInstanceOf(Date);
    expect(after.watermark).toEqual(Object.fromEntries((await lastWatermark(database.admin, PIPELINE)).xids));
  });

  it('answers before any run has succeeded', async () => {
    const status = await pipelineStatus(database, { pipeline: 'never-ran' });
    expect(status).toMatchObject({ watermark: {}, lastSucceededAt: null, lagSeconds: null, runs: [] });
  });
});

describe('AnalyticsRepository', () => {
  it('reads only the scoped tenant\'s analytics', async () => {
    const stranger = await seedTenant(database, 1, 'Stranger');
    await withTenant(database, { tenantId: stranger.tenantId }, async (trx) => {
      const analytics = new AnalyticsRepository(trx);
      expect((await analytics.metricSeries({ name: 'activities', from: '2025-06-01', to: '2025-06-30', granularity: 'day' })).rows).toEqual([]);
      expect((await analytics.activeUsers({ from: '2025-06-02', to: '2025-06-02' })).rows).toEqual([{ day: '2025-06-02', dau: 0, wau: 0, mau: 0 }]);
      expect((await analytics.listReports({ limit: 10 }))).toEqual([]);
      expect(weekStart('2025-06-02')).toBe('2025-06-02');
    });
  });
});
