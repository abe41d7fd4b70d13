import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../db/schema.generated.js';
import { addDays } from '../models/analytics.js';

export interface ActiveUsersPoint {
  day: string;
  dau: number;
  wau: number;
  mau: number;
}

/** A day's counts and the runs that wrote that day's own active user days. */
export interface CountedDay extends ActiveUsersPoint {
  runs: Array<number | string>;
}

/** The days whose counts an active day can change: its own and the 29 after it. */
export const WINDOW_DAYS = 30;

/**
 * Distinct users active on each day of [from, to], in the 7 and in the 30 days ending on it, in one
 * pass over the range's active days. A user's 7-day windows merge into runs of covered days: a run
 * starts on an active day more than 7 days after the user's previous one and ends 7 days after an
 * active day with no other in the 7 that follow, so WAU on a day is the runs started by then less
 * those ended by then (30 for MAU). Each active day is read once, counted per day, and running sums
 * over the range give the answer. A count (distinct) over each day's windows read every row up to 30
 * times: 24–47 s at 1,000,000 activities (bench/dashboard.ts, docs/dashboard.md). Results are
 * identical (tests/repositories/analytics-active-users.test.ts). With `runs`, each day also names the
 * runs of its own rows, which the stored counts keep as lineage.
 */
export function countActiveUsers(tenantId: number, from: string, to: string, options: { runs: true }): RawBuilder<CountedDay>;
export function countActiveUsers(tenantId: number, from: string, to: string, options?: { runs: false }): RawBuilder<ActiveUsersPoint>;
export function countActiveUsers(tenantId: number, from: string, to: string, options: { runs: boolean } = { runs: false }): RawBuilder<ActiveUsersPoint | CountedDay> {
  const runs = options.runs;
  return sql`
    with active as (
      select day, day - lag(day) over by_user as since, lead(day) over by_user - day as until${runs ? sql`, etl_run_id` : sql``}
      from active_user_day
      where tenant_id = ${tenantId} and day between ${from}::date - 29 and ${to}::date
      window by_user as (partition by user_id order by day)),
    per_day as (
      select day, count(*) as users,
        count(*) filter (where since is null or since > 7) as week_starts, count(*) filter (where until is null or until > 7) as week_ends,
        count(*) filter (where since is null or since > 30) as month_starts, count(*) filter (where until is null or until > 30) as month_ends
        ${runs ? sql`, array_agg(distinct etl_run_id) as runs` : sql``}
      from active group by day),
    running as (
      select series.day, coalesce(per_day.users, 0) as dau,
        sum(coalesce(per_day.week_starts, 0)) over days as week_started, sum(coalesce(per_day.week_ends, 0)) over days as week_ended,
        sum(coalesce(per_day.month_starts, 0)) over days as month_started, sum(coalesce(per_day.month_ends, 0)) over days as month_ended
        ${runs ? sql`, coalesce(per_day.runs, '{}') as runs` : sql``}
      from (select d::date as day from generate_series((${from}::date - 29)::timestamp, ${to}::timestamp, interval '1 day') as d) as series
        left join per_day on per_day.day = series.day
      window days as (order by series.day)),
    -- One row per day from the first: lag by 7 rows is the running sum 7 days earlier.
    counted as (
      select day, dau, week_started - coalesce(lag(week_ended, 7) over days, 0) as wau,
        month_started - coalesce(lag(month_ended, 30) over days, 0) as mau ${runs ? sql`, runs` : sql``}
      from running window days as (order by day))
    select day, dau::bigint as dau, wau::bigint as wau, mau::bigint as mau ${runs ? sql`, runs` : sql``}
    from counted where day >= ${from}::date
    order by day`;
}

// Six parameters a row, under PostgreSQL's 65,535 a statement: 5,000 days is over 13 years.
const VALUES_CHUNK_ROWS = 5_000;

// Two refreshes may recount the same tenant's days at once; the second waits for the first to
// commit, so that its delete sees the rows the first inserted.
const countsLock = (tenantId: number) => sql`select pg_advisory_xact_lock(hashtextextended(${`active_user_count:${tenantId}`}, 0))`;

/**
 * Recounts a tenant's stored counts on the days [from, to] from active_user_day, in the caller's
 * transaction (the admin handle's): a day nobody was active on in its 30 days keeps no row.
 */
export async function refreshActiveUserCounts(db: Kysely<DB>, tenantId: number, from: string, to: string): Promise<number> {
  await countsLock(tenantId).execute(db);
  await db.deleteFrom('active_user_count').where('tenant_id', '=', tenantId)
    .where('day', '>=', from).where('day', '<=', to).execute();
  const { rows } = await countActiveUsers(tenantId, from, to, { runs: true }).execute(db);
  const kept = rows.filter((row) => row.mau > 0);
  if (kept.length === 0) return 0;
  // Read, then inserted as VALUES (a row a day): Citus routes them to the tenant's shard.
  let inserted = 0;
  for (let start = 0; start < kept.length; start += VALUES_CHUNK_ROWS) {
    const result = await db.insertInto('active_user_count').values(kept.slice(start, start + VALUES_CHUNK_ROWS).map((row) => ({
      tenant_id: tenantId, day: row.day, dau: row.dau, wau: row.wau, mau: row.mau, etl_run_ids: row.runs.map(Number),
    }))).executeTakeFirst();
    inserted += Number(result.numInsertedOrUpdatedRows ?? 0n);
  }
  return inserted;
}

/**
 * Whether the tenant's counts are stored. A tenant with active days always has a counted day, so a
 * tenant without any has not been counted since the table was created: its answers are computed
 * live until the pipeline next writes its active days and counts them all.
 */
export async function hasStoredCounts(db: Kysely<DB>, tenantId: number): Promise<boolean> {
  const row = await db.selectFrom('active_user_count').select('day').where('tenant_id', '=', tenantId).limit(1).executeTakeFirst();
  return row !== undefined;
}

/** The first and last of the tenant's active days (both ends of its index on (tenant_id, day)). */
export async function activeDaySpan(db: Kysely<DB>, tenantId: number, userId?: number): Promise<{ from: string; to: string } | undefined> {
  let query = db.selectFrom('active_user_day')
    .select((eb) => [eb.fn.min('day').as('from'), eb.fn.max('day').as('to')]).where('tenant_id', '=', tenantId);
  if (userId !== undefined) query = query.where('user_id', '=', userId);
  const span = await query.executeTakeFirst();
  return span?.from ? { from: span.from, to: span.to } : undefined;
}

/** A tenant's first and last day among active user days written or cleared. */
export type DaySpans = ReadonlyMap<number, { from: string; to: string }>;

/**
 * Marks stale, in the writing transaction, the counts of every day that active days written or
 * cleared on each tenant's span count in (its first day to its last + 29): the read answers those
 * days live until `refreshStaleCounts` recounts them. One statement for every tenant, taking each
 * tenant's mark row lock in id order; a mark already there widens and gets a new version.
 */
export async function markCountsStale(db: Kysely<DB>, spans: DaySpans): Promise<void> {
  if (spans.size === 0) return;
  const marks = [...spans].sort(([a], [b]) => a - b)
    .map(([tenantId, span]) => ({ tenant_id: tenantId, from_day: span.from, to_day: addDays(span.to, WINDOW_DAYS - 1) }));
  await db.insertInto('active_user_count_stale').values(marks)
    .onConflict((conflict) => conflict.column('tenant_id').doUpdateSet({
      from_day: sql`least(active_user_count_stale.from_day, excluded.from_day)`,
      to_day: sql`greatest(active_user_count_stale.to_day, excluded.to_day)`,
      version: sql`active_user_count_stale.version + 1`,
    })).execute();
}

/**
 * Recounts the stale days of every marked tenant (or of those named), one tenant a transaction, and
 * lifts a mark only if no write marked it again meanwhile (same version): a write that committed
 * after the recount read its days keeps its days stale for the next refresh. A tenant never counted
 * is counted on every day. `db` is the admin handle. Returns the tenants refreshed and the days stored.
 */
export async function refreshStaleCounts(db: Kysely<DB>, tenantIds?: readonly number[]): Promise<{ tenants: number; days: number }> {
  if (tenantIds?.length === 0) return { tenants: 0, days: 0 };
  let query = db.selectFrom('active_user_count_stale').select(['tenant_id', 'from_day', 'to_day', 'version']).orderBy('tenant_id');
  if (tenantIds) query = query.where('tenant_id', 'in', tenantIds);
  let days = 0;
  const marks = await query.execute();
  for (const mark of marks) {
    days += await db.transaction().execute(async (trx) => {
      const tenantId = mark.tenant_id;
      const whole = await hasStoredCounts(trx, tenantId) ? undefined : await activeDaySpan(trx, tenantId);
      const from = whole && whole.from < mark.from_day ? whole.from : mark.from_day;
      const to = whole && addDays(whole.to, WINDOW_DAYS - 1) > mark.to_day ? addDays(whole.to, WINDOW_DAYS - 1) : mark.to_day;
      const stored = await refreshActiveUserCounts(trx, tenantId, from, to);
      await trx.deleteFrom('active_user_count_stale').where('tenant_id', '=', tenantId).where('version', '=', mark.version).execute();
      return stored;
    });
  }
  return { tenants: marks.length, days };
}
