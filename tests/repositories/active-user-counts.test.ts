import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { addDays } from '../../src/models/analytics.js';
import { activeDaySpan, markCountsStale, refreshActiveUserCounts, refreshStaleCounts } from '../../src/repositories/active-user-counts.js';
import { AnalyticsRepository } from '../../src/repositories/analytics-repository.js';
import { createTenant } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { explain, indexScans, planNodes, recordStatements, rowPlan } from './plan-helpers.js';

const FIRST = '2025-03-01';
const LAST = '2025-05-20';

let database: TestDatabase;
let statements: ReturnType<typeof recordStatements>;
let counted: number;
let neverCounted: number;
let other: number;
let runIds: number[];
let usersMade = 0;

async function usersOf(tenant: number, count: number): Promise<number[]> {
  const first = usersMade + 1;
  usersMade += count;
  const { rows } = await sql<{ id: number }>`
    insert into app_user (tenant_id, email, username)
    select ${tenant}, 'u' || g || '@t' || ${tenant} || '.io', 'u' || g from generate_series(${first}::int, ${usersMade}::int) g
    returning id`.execute(database.admin);
  return rows.map((row) => row.id);
}

/** Pseudo-random active days over [FIRST, LAST] in runs and gaps, stamped with one of two runs by half. */
async function activeDays(tenant: number, users: number, seed: number): Promise<void> {
  let state = seed;
  const random = () => (state = (state * 48_271) % 2_147_483_647) / 2_147_483_647;
  const span = Math.round((Date.parse(LAST) - Date.parse(FIRST)) / 86_400_000);
  const rows = (await usersOf(tenant, users)).flatMap((userId) => [...new Set(Array.from({ length: 1 + Math.floor(random() * 20) },
    () => addDays(FIRST, Math.floor(random() * (span + 1)))))].map((day) => ({
    tenant_id: tenant, day, user_id: userId, etl_run_id: day < '2025-04-10' ? runIds[0]! : runIds[1]!,
  })));
  await database.admin.insertInto('active_user_day').values(rows).execute();
}

const stored = (tenant: number, from: string, to: string) =>
  withTenant(database, { tenantId: tenant }, (trx) => new AnalyticsRepository(trx).activeUsers({ from, to }));
const live = (tenant: number, from: string, to: string) =>
  withTenant(database, { tenantId: tenant }, (trx) => new AnalyticsRepository(trx).liveActiveUsers({ from, to }));

beforeAll(async () => {
  database = await migratedDatabase();
  statements = recordStatements(database.pool);
  counted = (await createTenant(database, 'Counted')).id;
  neverCounted = (await createTenant(database, 'Never counted')).id;
  other = (await createTenant(database, 'Other')).id;
  runIds = (await database.admin.insertInto('etl_run').values([{ pipeline: 'counts-test' }, { pipeline: 'counts-test' }])
    .returning('id').execute()).map((row) => row.id);
  await activeDays(counted, 40, 11);
  await activeDays(neverCounted, 10, 23);
  await activeDays(other, 5, 37);
  for (const tenant of [counted, other]) await markCountsStale(database.admin, new Map([[tenant, (await activeDaySpan(database.admin, tenant))!]]));
  expect(await refreshStaleCounts(database.admin, [counted, other])).toMatchObject({ tenants: 2 });
});

describe('the stored daily active users', () => {
  it('answer exactly what the live computation answers, lineage included, on ranges before, amid, across and after the data', async () => {
    const ranges: Array<[string, string]> = [
      ['2024-12-01', '2025-01-15'], [addDays(FIRST, -10), addDays(FIRST, 5)], [FIRST, LAST], ['2025-04-09', '2025-04-11'],
      ['2025-04-10', '2025-04-10'], [addDays(LAST, -3), addDays(LAST, 40)], [addDays(LAST, 29), addDays(LAST, 31)], ['2026-01-01', '2026-02-01'],
    ];
    for (const [from, to] of ranges) expect(await stored(counted, from, to)).toEqual(await live(counted, from, to));
    const whole = await stored(counted, FIRST, LAST);
    // The comparison has something to compare: active users, and both runs named.
    expect(whole.rows.filter((row) => row.dau > 0).length).toBeGreaterThan(40);
    expect(whole.etlRunIds).toEqual(runIds);
    expect((await stored(counted, '2025-04-12', '2025-04-12')).etlRunIds).toEqual(runIds);
    expect((await stored(counted, addDays(LAST, 31), addDays(LAST, 60)))).toEqual({ rows: expect.any(Array), etlRunIds: [] });
  });

  it('keep a row only for a day someone counts in, with DAU ≤ WAU ≤ MAU', async () => {
    const rows = await database.admin.selectFrom('active_user_count').selectAll().where('tenant_id', '=', counted).orderBy('day').execute();
    const span = (await activeDaySpan(database.admin, counted))!;
    expect(rows[0]!.day).toBe(span.from);
    expect(rows.at(-1)!.day).toBe(addDays(span.to, 29));
    expect(rows.every((row) => row.mau > 0 && row.dau <= row.wau && row.wau <= row.mau)).toBe(true);
    await expect(database.admin.insertInto('active_user_count').values({ tenant_id: counted, day: '2020-01-01', dau: 0, wau: 0, mau: 0 }).execute())
      .rejects.toMatchObject({ code: '23514' });
  });

  it('are read by one statement, a range scan of the (tenant_id, day) key, and active_user_day is not read', async () => {
    const captured = await statements.capture(() => stored(counted, FIRST, LAST));
    const reads = captured.filter((statement) => /active_user_(count|day)/.test(statement.text));
    expect(reads).toHaveLength(1);
    expect(reads[0]!.text).not.toMatch(/active_user_day/);
    const plan = rowPlan(await explain(database, counted, reads[0]!));
    // The stale marks (a row a tenant at most) are read beside it, by whatever scan is cheapest.
    expect(indexScans(plan).filter((node) => node['Relation Name'] === 'active_user_count').map((node) => node['Index Name']))
      .toEqual(['active_user_count_pkey']);
    expect(planNodes(plan).filter((node) => node['Node Type'] === 'Seq Scan' && node['Relation Name'] !== 'active_user_count_stale')).toEqual([]);
  });

  it('are recomputed live for a tenant never counted, reading active_user_day only then', async () => {
    expect(await database.admin.selectFrom('active_user_count').select('day').where('tenant_id', '=', neverCounted).execute()).toEqual([]);
    const answer = await stored(neverCounted, FIRST, LAST);
    expect(answer).toEqual(await live(neverCounted, FIRST, LAST));
    expect(answer.rows.some((row) => row.dau > 0)).toBe(true);
    const captured = await statements.capture(() => stored(neverCounted, FIRST, LAST));
    expect(captured.filter((statement) => /\blead\(day\)/.test(statement.text))).toHaveLength(1);
    // A counted tenant with nothing in the range answers zeros from the counts alone.
    const quiet = await statements.capture(() => stored(counted, '2024-01-01', '2024-01-31'));
    expect(quiet.filter((statement) => /\blead\(day\)/.test(statement.text))).toEqual([]);
  });

  it('recount a range to what the live computation gives after its active days change', async () => {
    const [user] = await usersOf(counted, 1);
    await database.admin.insertInto('active_user_day').values({ tenant_id: counted, day: '2025-06-30', user_id: user!, etl_run_id: runIds[1]! }).execute();
    expect(await stored(counted, '2025-06-30', '2025-07-05')).not.toEqual(await live(counted, '2025-06-30', '2025-07-05'));
    await database.admin.transaction().execute((trx) => refreshActiveUserCounts(trx, counted, '2025-06-30', addDays('2025-06-30', 29)));
    expect(await stored(counted, '2025-06-01', '2025-08-15')).toEqual(await live(counted, '2025-06-01', '2025-08-15'));
  });

  it('cannot see or change another tenant\'s counts, under forced row-level security', async () => {
    const { rows: [security] } = await sql<{ enabled: boolean; forced: boolean }>`
      select relrowsecurity as enabled, relforcerowsecurity as forced from pg_class where oid = 'active_user_count'::regclass`.execute(database.admin);
    expect(security).toEqual({ enabled: true, forced: true });
    const seen = await withTenant(database, { tenantId: other }, (trx) => trx.selectFrom('active_user_count').select('tenant_id').distinct().execute());
    expect(seen).toEqual([{ tenant_id: other }]);
    // A tenant reads its counts and never writes them: only the refresh, as the admin, does.
    await expect(withTenant(database, { tenantId: other }, (trx) => trx.deleteFrom('active_user_count').where('tenant_id', '=', other).execute()))
      .rejects.toMatchObject({ code: '42501' });
    await expect(withTenant(database, { tenantId: other }, (trx) => trx.insertInto('active_user_count')
      .values({ tenant_id: counted, day: '2020-01-01', dau: 1, wau: 1, mau: 1 }).execute())).rejects.toMatchObject({ code: '42501' });
    // Its stale marks are its own too: it cannot mark another tenant's days.
    await expect(withTenant(database, { tenantId: other }, (trx) => markCountsStale(trx, new Map([[counted, { from: FIRST, to: FIRST }]]))))
      .rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await database.admin.selectFrom('active_user_count_stale').selectAll().where('tenant_id', '=', counted).execute()).toEqual([]);
    // Tenant B's answers are its own: equal to its live computation, never tenant A's.
    expect(await stored(other, FIRST, LAST)).toEqual(await live(other, FIRST, LAST));
    expect(await stored(other, FIRST, LAST)).not.toEqual(await stored(counted, FIRST, LAST));
  });

  it('are answered live while a write has marked their days stale, and stored again once refreshed', async () => {
    const [user] = await usersOf(counted, 1);
    await database.admin.insertInto('active_user_day').values({ tenant_id: counted, day: '2025-09-02', user_id: user!, etl_run_id: runIds[1]! }).execute();
    await markCountsStale(database.admin, new Map([[counted, { from: '2025-09-02', to: '2025-09-02' }]]));
    // Marked 09-02 to 10-01: a range touching it (or whose 29 days before do) is answered live, one far from it is not.
    const marked = await statements.capture(async () => expect(await stored(counted, '2025-10-01', '2025-10-05')).toEqual(await live(counted, '2025-10-01', '2025-10-05')));
    expect(marked.filter((statement) => /\blead\(day\)/.test(statement.text))).toHaveLength(2);
    expect((await stored(counted, '2025-09-10', '2025-09-10')).rows).toEqual([{ day: '2025-09-10', dau: 0, wau: 0, mau: 1 }]);
    const far = await statements.capture(() => stored(counted, '2025-11-01', '2025-11-05'));
    expect(far.filter((statement) => /\blead\(day\)/.test(statement.text))).toEqual([]);

    expect(await refreshStaleCounts(database.admin)).toEqual({ tenants: 1, days: 30 });
    expect(await database.admin.selectFrom('active_user_count_stale').selectAll().execute()).toEqual([]);
    const refreshed = await statements.capture(async () => expect(await stored(counted, '2025-08-01', '2025-10-05')).toEqual(await live(counted, '2025-08-01', '2025-10-05')));
    expect(refreshed.filter((statement) => /\blead\(day\)/.test(statement.text))).toHaveLength(1);
  });

  it('keep a mark that a write renewed while a refresh counted: the refresh lifts only the version it read', async () => {
    const [user] = await usersOf(counted, 1);
    await database.admin.insertInto('active_user_day').values({ tenant_id: counted, day: '2025-12-01', user_id: user!, etl_run_id: runIds[1]! }).execute();
    await markCountsStale(database.admin, new Map([[counted, { from: '2025-12-01', to: '2025-12-01' }]]));
    const writer = await database.pool.connect();
    try {
      await writer.query('begin');
      // A second write marks the same tenant and has not committed when the refresh lifts the mark.
      await writer.query(`insert into active_user_count_stale (tenant_id, from_day, to_day) values ($1, '2025-12-03', '2026-01-01')
        on conflict (tenant_id) do update set from_day = least(active_user_count_stale.from_day, excluded.from_day),
          to_day = greatest(active_user_count_stale.to_day, excluded.to_day), version = active_user_count_stale.version + 1`, [counted]);
      const refresh = refreshStaleCounts(database.admin);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await writer.query(`insert into active_user_day (tenant_id, day, user_id, etl_run_id) values ($1, '2025-12-03', $2, $3)`, [counted, user, runIds[1]]);
      await writer.query('commit');
      expect(await refresh).toEqual({ tenants: 1, days: 30 });
    } finally {
      writer.release();
    }
    expect(await database.admin.selectFrom('active_user_count_stale').select(['from_day', 'to_day', 'version']).where('tenant_id', '=', counted).execute())
      .toEqual([{ from_day: '2025-12-01', to_day: '2026-01-01', version: 2 }]);
    // The day the second write added is answered live, so right; the next refresh stores it.
    expect(await stored(counted, '2025-12-01', '2025-12-10')).toEqual(await live(counted, '2025-12-01', '2025-12-10'));
    // Stored before the second write committed, 12-03 counted nobody; answered live, it counts its user.
    expect((await stored(counted, '2025-12-03', '2025-12-03')).rows[0]).toMatchObject({ dau: 1, wau: 1 });
    await refreshStaleCounts(database.admin);
    expect(await database.admin.selectFrom('active_user_count_stale').selectAll().execute()).toEqual([]);
    expect(await stored(counted, '2025-11-25', '2026-01-10')).toEqual(await live(counted, '2025-11-25', '2026-01-10'));
  });
});
