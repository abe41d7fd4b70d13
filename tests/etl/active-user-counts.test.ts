import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureMonthlyPartitions } from '../../src/db/activity-partitions.js';
import { withTenant } from '../../src/db/tenant.js';
import { backfill, runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { addDays } from '../../src/models/analytics.js';
import { activeDaySpan, refreshStaleCounts } from '../../src/repositories/active-user-counts.js';
import { AnalyticsRepository } from '../../src/repositories/analytics-repository.js';
import { TenantRepository } from '../../src/repositories/tenant-repository.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { pruneActivityPartitions } from '../../src/services/activity-retention.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { catchUp, horizonPassed, insertActivities, insertEvents, paths, seedTenant, succeeded, type SeededTenant } from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

async function storedCounts(tenantId: number) {
  return database.admin.selectFrom('active_user_count').select(['day', 'dau', 'wau', 'mau', 'etl_run_ids'])
    .where('tenant_id', '=', tenantId).orderBy('day').execute();
}

/**
 * The stored counts of a tenant, row for row, against the one-pass computation over its active days
 * on every day one of them counts in (and a few around): no day missing, none extra, none stale.
 * Returns the rows, so a test can also say what changed.
 */
async function expectCountsLive(tenantId: number) {
  // Before the refresh that follows a write, the answer is already right: its stale days are answered live.
  await expectAnswersLive(tenantId);
  await refreshStaleCounts(database.admin, [tenantId]);
  expect(await database.admin.selectFrom('active_user_count_stale').selectAll().where('tenant_id', '=', tenantId).execute()).toEqual([]);
  const stored = (await storedCounts(tenantId)).map(({ day, dau, wau, mau }) => ({ day, dau, wau, mau }));
  const span = await activeDaySpan(database.admin, tenantId);
  const live = span === undefined ? [] : (await withTenant(database, { tenantId }, (trx) => new AnalyticsRepository(trx)
    .liveActiveUsers({ from: addDays(span.from, -5), to: addDays(span.to, 35) }))).rows.filter((row) => row.mau > 0);
  expect(stored).toEqual(live);
  await expectAnswersLive(tenantId);
  return stored;
}

/** The answer the API gives, lineage included, equals the live one. */
async function expectAnswersLive(tenantId: number) {
  const span = await activeDaySpan(database.admin, tenantId);
  if (span !== undefined) {
    const range = { from: addDays(span.from, -3), to: addDays(span.to, 3) };
    const answers = await withTenant(database, { tenantId }, async (trx) => {
      const repository = new AnalyticsRepository(trx);
      return [await repository.activeUsers(range), await repository.liveActiveUsers(range)];
    });
    expect(answers[0]).toEqual(answers[1]);
  }
}

async function activeOn(tenant: SeededTenant, entries: Array<[user: number, day: string]>) {
  await insertActivities(database, entries.map(([user, day]) => ({ tenantId: tenant.tenantId, userId: tenant.userIds[user]!, type: 'login', at: `${day}T08:00:00Z` })));
}

describe.each(paths)('on the %s path', (_name, path) => {
  it('incremental runs keep the counts equal to the live computation, a late earlier day included', async () => {
    const tenant = await seedTenant(database, 4);
    await activeOn(tenant, [[0, '2025-03-03'], [1, '2025-03-03'], [0, '2025-03-06'], [2, '2025-03-20']]);
    succeeded(await catchUp(database, path));
    const first = await expectCountsLive(tenant.tenantId);
    expect(first[0]).toMatchObject({ day: '2025-03-03', dau: 2, wau: 2, mau: 2 });
    expect(first.at(-1)!.day).toBe('2025-04-18');

    // Later days, and one 20 days before anything so far: it counts in days the first run counted.
    await activeOn(tenant, [[3, '2025-03-25'], [1, '2025-04-30']]);
    await insertEvents(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[3]!, name: 'late', at: '2025-02-11T00:00:00Z' }]);
    succeeded(await catchUp(database, path));
    const second = await expectCountsLive(tenant.tenantId);
    expect(second.find((row) => row.day === '2025-03-03')).toMatchObject({ dau: 2, wau: 2, mau: 3 });

    // A rerun with nothing new writes nothing.
    expect(await catchUp(database, path)).toEqual({ status: 'skipped', reason: 'up to date' });
    expect(await expectCountsLive(tenant.tenantId)).toEqual(second);
  });

  it('a run that fails after writing its active days leaves the counts as it found them', async () => {
    const tenant = await seedTenant(database, 3);
    await activeOn(tenant, [[0, '2025-05-05'], [1, '2025-05-06']]);
    succeeded(await catchUp(database, path));
    await expectCountsLive(tenant.tenantId);
    const before = await storedCounts(tenant.tenantId);
    await activeOn(tenant, [[2, '2025-05-07'], [2, '2025-04-20']]);
    await horizonPassed(database);
    await expect(runPipeline(database, { ...path, hooks: { duringLoad: () => { throw new Error('power cut'); } } })).rejects.toThrow('power cut');
    expect(await storedCounts(tenant.tenantId)).toEqual(before);
    expect(await database.admin.selectFrom('active_user_count_stale').selectAll().where('tenant_id', '=', tenant.tenantId).execute()).toEqual([]);
    await expectCountsLive(tenant.tenantId);
    succeeded(await catchUp(database, path));
    expect((await expectCountsLive(tenant.tenantId)).find((row) => row.day === '2025-05-07')).toMatchObject({ dau: 1, wau: 3, mau: 3 });
  });

  it('a backfill recounts the days it rebuilt, a day left with nobody active included', async () => {
    const tenant = await seedTenant(database, 3);
    await activeOn(tenant, [[0, '2025-07-01'], [1, '2025-07-02'], [2, '2025-07-10'], [0, '2025-07-20']]);
    succeeded(await catchUp(database, path));
    await expectCountsLive(tenant.tenantId);
    // The source rows of 07-10 are repaired away; the backfill rebuilds 07-08…07-12 without them.
    await sql`delete from user_activity where tenant_id = ${tenant.tenantId} and created_at >= '2025-07-10' and created_at < '2025-07-11'`.execute(database.admin);
    const result = await backfill(database, { ...path, from: '2025-07-08', to: '2025-07-12' });
    expect(result.runIds).toHaveLength(1);
    const counts = await expectCountsLive(tenant.tenantId);
    expect(counts.find((row) => row.day === '2025-07-10')).toMatchObject({ dau: 0, wau: 0, mau: 2 });
    expect(counts.at(-1)!.day).toBe(addDays('2025-07-20', 29));
  });

  it('a tenant whose active days were never counted is counted on every day at its next run', async () => {
    const tenant = await seedTenant(database, 3);
    await activeOn(tenant, [[0, '2025-08-01'], [1, '2025-08-15']]);
    succeeded(await catchUp(database, path));
    // As after the migration that created the table: active days, no counts.
    await database.admin.deleteFrom('active_user_count').where('tenant_id', '=', tenant.tenantId).execute();
    await activeOn(tenant, [[2, '2025-09-30']]);
    succeeded(await catchUp(database, path));
    const counts = await expectCountsLive(tenant.tenantId);
    expect(counts[0]!.day).toBe('2025-08-01');
  });
});

describe('the other writers of active_user_day', () => {
  it('deleting a user marks the days they counted in stale, in the deleting transaction', async () => {
    const tenant = await seedTenant(database, 3);
    await activeOn(tenant, [[0, '2025-10-01'], [1, '2025-10-01'], [1, '2025-10-03'], [2, '2025-11-20']]);
    succeeded(await catchUp(database));
    expect((await expectCountsLive(tenant.tenantId)).find((row) => row.day === '2025-10-03')).toMatchObject({ dau: 1, wau: 2, mau: 2 });

    await withTenant(database, { tenantId: tenant.tenantId }, (trx) => new UserRepository(trx).delete(tenant.userIds[1]!));
    const counts = await expectCountsLive(tenant.tenantId);
    expect(counts.find((row) => row.day === '2025-10-03')).toMatchObject({ dau: 0, wau: 1, mau: 1 });

    // A delete that rolls back marks nothing either.
    const before = await storedCounts(tenant.tenantId);
    await expect(withTenant(database, { tenantId: tenant.tenantId }, async (trx) => {
      await new UserRepository(trx).delete(tenant.userIds[0]!);
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    expect(await storedCounts(tenant.tenantId)).toEqual(before);
    expect(await database.admin.selectFrom('active_user_count_stale').selectAll().where('tenant_id', '=', tenant.tenantId).execute()).toEqual([]);
  });

  it('deleting a tenant deletes its counts and no other tenant\'s', async () => {
    const gone = await seedTenant(database, 2, 'Gone');
    const kept = await seedTenant(database, 2, 'Kept');
    await activeOn(gone, [[0, '2025-12-01']]);
    await activeOn(kept, [[0, '2025-12-01']]);
    succeeded(await catchUp(database));
    await refreshStaleCounts(database.admin);
    const keptCounts = await storedCounts(kept.tenantId);
    expect(await storedCounts(gone.tenantId)).not.toEqual([]);
    await new TenantRepository(database.admin).delete(gone.tenantId);
    expect(await storedCounts(gone.tenantId)).toEqual([]);
    expect(await storedCounts(kept.tenantId)).toEqual(keptCounts);
  });

  it('pruning activity partitions changes no count; a backfill of the pruned days then recounts them', async () => {
    const tenant = await seedTenant(database, 2, 'Pruned');
    const { rows: [month] } = await sql<{ old: string; recent: string }>`
      select (date_trunc('month', now() at time zone 'UTC') - interval '3 months')::date + 4 as old,
        (date_trunc('month', now() at time zone 'UTC'))::date as recent`.execute(database.admin);
    await ensureMonthlyPartitions(database, { monthsBack: 4, monthsAhead: 1 });
    await activeOn(tenant, [[0, month!.old], [1, month!.recent]]);
    succeeded(await catchUp(database));
    const before = await expectCountsLive(tenant.tenantId);

    expect((await pruneActivityPartitions(database, '2 months')).dropped.length).toBeGreaterThan(0);
    expect(await expectCountsLive(tenant.tenantId)).toEqual(before);

    await backfill(database, { from: month!.old, to: month!.old });
    const after = await expectCountsLive(tenant.tenantId);
    expect(after.find((row) => row.day === month!.old)).toBeUndefined();
    expect(after).not.toEqual(before);
  });
});
