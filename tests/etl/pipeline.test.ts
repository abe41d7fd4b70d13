import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { lastWatermark } from '../../src/repositories/pipeline-watermark.js';
import { PIPELINE, runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  catchUp, expectedActiveUserDays, expectedMetrics, horizonPassed, insertActivities, insertEvents,
  loadedActiveUserDays, loadedMetrics, paths, seedTenant, succeeded, windowEnds, windowStarts, type SeededTenant,
} from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

async function expectExact(tenantIds: number[]) {
  expect(await loadedMetrics(database, tenantIds)).toEqual(await expectedMetrics(database, tenantIds));
  expect(await loadedActiveUserDays(database, tenantIds)).toEqual(await expectedActiveUserDays(database, tenantIds));
}

/**
 * rows_written of an incremental run as etl_run records it, and the rows that name the run: the metric
 * rows it inserted or added to, and the active user days it inserted (not those already there). The two
 * agree unless a later run renamed a row, or a new_users day fell to zero and its row was deleted.
 */
async function recordedRowsWritten(runId: number) {
  const run = await database.admin.selectFrom('etl_run').select('rows_written').where('id', '=', runId).executeTakeFirstOrThrow();
  const { rows: [naming] } = await sql<{ rows: number }>`
    select (select count(*) from metric where etl_run_id = ${runId}) + (select count(*) from active_user_day where etl_run_id = ${runId}) as rows`
    .execute(database.admin);
  return { recorded: run.rows_written, naming: naming!.rows };
}

async function activityDays(tenant: SeededTenant, days: string[], type = 'login') {
  await insertActivities(database, days.map((day, index) => ({
    tenantId: tenant.tenantId, userId: tenant.userIds[index % tenant.userIds.length]!, type, at: `${day}T12:00:00Z`,
  })));
}

describe.each(paths)('on the %s path', (_name, path) => {
  describe('runPipeline', () => {
    it('loads per-tenant daily metrics and active user days equal to a straight SQL count of the raw rows', async () => {
      const a = await seedTenant(database, 3, 'A');
      const b = await seedTenant(database, 2, 'B');
      await insertActivities(database, [
        { tenantId: a.tenantId, userId: a.userIds[0]!, type: 'login', at: '2025-03-03T00:00:00Z' },
        { tenantId: a.tenantId, userId: a.userIds[0]!, type: 'login', at: '2025-03-03T23:59:59Z' },
        { tenantId: a.tenantId, userId: a.userIds[1]!, type: 'view', at: '2025-03-04T10:00:00Z' },
        { tenantId: b.tenantId, userId: b.userIds[0]!, type: 'login', at: '2025-03-03T05:00:00Z' },
      ]);
      await insertEvents(database, [
        { tenantId: a.tenantId, userId: a.userIds[2]!, name: 'signup', at: '2025-03-04T01:00:00Z' },
        { tenantId: a.tenantId, userId: null, name: 'page_view', at: '2025-03-04T01:00:00Z' },
        { tenantId: b.tenantId, userId: b.userIds[1]!, name: 'signup', at: '2025-03-02T23:00:00+00:00' },
      ]);
      const run = succeeded(await catchUp(database, path));
      expect(run.rowsRead).toBe(7);
      await expectExact([a.tenantId, b.tenantId]);
      // The rule spelled out for one tenant and day: two logins by one user count as 2 activities and 1 active user.
      const metrics = await loadedMetrics(database, [a.tenantId]);
      expect(metrics.filter((m) => m.day === '2025-03-03')).toEqual([
        { tenant_id: a.tenantId, name: 'activities', dimension: 'login', day: '2025-03-03', value: 2 },
        { tenant_id: a.tenantId, name: 'new_users', dimension: '', day: '2025-03-03', value: 1 },
      ]);
    });

    it('changes nothing on a second run: the tables are identical and no run is recorded', async () => {
      const tenant = await seedTenant(database, 4);
      await activityDays(tenant, ['2025-02-01', '2025-02-02', '2025-02-02', '2025-02-09']);
      succeeded(await catchUp(database, path));
      const before = { metrics: await loadedMetrics(database, [tenant.tenantId]), days: await loadedActiveUserDays(database, [tenant.tenantId]) };
      const runs = await database.admin.selectFrom('etl_run').select('id').execute();
      expect(await catchUp(database, path)).toEqual({ status: 'skipped', reason: 'up to date' });
      expect(await loadedMetrics(database, [tenant.tenantId])).toEqual(before.metrics);
      expect(await loadedActiveUserDays(database, [tenant.tenantId])).toEqual(before.days);
      expect(await database.admin.selectFrom('etl_run').select('id').execute()).toEqual(runs);
    });

    it('counts a row whose transaction commits after a run that already saw a higher id, exactly once, in the next run', async () => {
      const tenant = await seedTenant(database, 2);
      await activityDays(tenant, ['2025-01-10']);
      await horizonPassed(database);
      const late = await database.pool.connect();
      let committed = false;
      try {
        await late.query('begin');
        const { rows: [held] } = await late.query<{ id: string }>(
          `insert into user_activity (tenant_id, user_id, activity_type, created_at) values ($1, $2, 'late_commit', '2025-01-10T08:00:00Z') returning id`,
          [tenant.tenantId, tenant.userIds[1]]);
        await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'early_commit', at: '2025-01-10T09:00:00Z' }]);
        const { rows: [visible] } = await sql<{ max: number }>`select max(id) as max from user_activity`.execute(database.admin);
        // An id watermark taken now would be past the row still being written, and would skip it forever.
        expect(visible!.max).toBeGreaterThan(Number(held!.id));

        await runPipeline(database, path);
        await late.query('commit');
        committed = true;
      } finally {
        // Back in the pool still open, the transaction would hold the commit horizon back for every later case.
        late.release(!committed);
      }
      await catchUp(database, path);
      await expectExact([tenant.tenantId]);
      const counted = await loadedMetrics(database, [tenant.tenantId]);
      expect(counted.find((m) => m.dimension === 'late_commit')?.value).toBe(1);
      expect(counted.find((m) => m.dimension === 'early_commit')?.value).toBe(1);
      // Every row was read by exactly one succeeded run.
      const { rows: [reads] } = await sql<{ read: number; rows: number }>`
        select (select sum(rows_read) from etl_run where status = 'succeeded' and mode = 'incremental') as read,
          (select count(*) from user_activity) + (select count(*) from event) as rows`.execute(database.admin);
      expect(reads!.read).toBe(reads!.rows);
    });

    it('counts rows with an old created_at ingested after a run on their own day, and moves the user\'s new_users day with them', async () => {
      const tenant = await seedTenant(database, 1);
      const [user] = tenant.userIds;
      await activityDays(tenant, ['2025-04-20']);
      succeeded(await catchUp(database, path));
      expect((await loadedMetrics(database, [tenant.tenantId])).filter((m) => m.name === 'new_users'))
        .toEqual([{ tenant_id: tenant.tenantId, name: 'new_users', dimension: '', day: '2025-04-20', value: 1 }]);

      await insertActivities(database, [{ tenantId: tenant.tenantId, userId: user!, type: 'login', at: '2025-03-01T10:00:00Z' }]);
      await insertEvents(database, [{ tenantId: tenant.tenantId, userId: user!, name: 'purchase', at: '2025-03-15T10:00:00Z' }]);
      succeeded(await catchUp(database, path));
      await expectExact([tenant.tenantId]);
      const metrics = await loadedMetrics(database, [tenant.tenantId]);
      expect(metrics.filter((m) => m.name === 'new_users'))
        .toEqual([{ tenant_id: tenant.tenantId, name: 'new_users', dimension: '', day: '2025-03-01', value: 1 }]);
      expect(metrics.find((m) => m.day === '2025-03-15')).toMatchObject({ name: 'events', dimension: 'purchase', value: 1 });
    });

    it('keeps a day whose new users only changed hands, naming the run that changed it', async () => {
      const tenant = await seedTenant(database, 2);
      const [first, second] = tenant.userIds as [number, number];
      await insertActivities(database, [{ tenantId: tenant.tenantId, userId: first, type: 'login', at: '2025-05-10T10:00:00Z' }]);
      succeeded(await catchUp(database, path));
      // `first` moves to an earlier day and `second` arrives on the 10th: the 10th still counts one new user.
      await insertActivities(database, [
        { tenantId: tenant.tenantId, userId: first, type: 'login', at: '2025-05-01T10:00:00Z' },
        { tenantId: tenant.tenantId, userId: second, type: 'login', at: '2025-05-10T11:00:00Z' },
      ]);
      const run = succeeded(await catchUp(database, path));
      await expectExact([tenant.tenantId]);
      const tenth = await database.admin.selectFrom('metric').select(['value', 'etl_run_id'])
        .where('tenant_id', '=', tenant.tenantId).where('name', '=', 'new_users').where('day', '=', '2025-05-10').executeTakeFirstOrThrow();
      expect(tenth).toEqual({ value: 1, etl_run_id: run.runId });
    });

    it('records each succeeded run\'s window, counts and checksums, and starts each run where the last one ended', async () => {
      const tenant = await seedTenant(database, 2);
      await activityDays(tenant, ['2025-06-01', '2025-06-02']);
      const first = succeeded(await catchUp(database, path));
      // activities and new_users on both days, and both user days.
      expect(await recordedRowsWritten(first.runId)).toEqual({ recorded: 6, naming: 6 });
      await activityDays(tenant, ['2025-06-03']);
      const second = succeeded(await catchUp(database, path));
      expect(windowStarts(second.windows)).toEqual(windowEnds(first.windows));
      expect(Object.fromEntries((await lastWatermark(database.admin, PIPELINE)).xids)).toEqual(windowEnds(second.windows));
      const row = await database.admin.selectFrom('etl_run').selectAll().where('id', '=', second.runId).executeTakeFirstOrThrow();
      expect(row).toMatchObject({ status: 'succeeded', mode: 'incremental', rows_read: 1, rows_written: second.rowsWritten, error: null });
      expect(row.finished_at).not.toBeNull();
      expect(row.checksums).toMatchObject({ user_activity: { rows: 1 }, event: { rows: 0 }, quarantined: 0 });
      // The 3rd's activities and its one user day; its user was already new on the 1st.
      expect(await recordedRowsWritten(second.runId)).toEqual({ recorded: 2, naming: 2 });
      // A day and user already loaded: the metric is updated (and named by the run), the user day is not written again.
      await activityDays(tenant, ['2025-06-01']);
      const third = succeeded(await catchUp(database, path));
      expect(await recordedRowsWritten(third.runId)).toEqual({ recorded: 1, naming: 1 });
      await expectExact([tenant.tenantId]);
    });
  });
});
