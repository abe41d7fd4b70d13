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

// Deleting a user and a pipeline run may recount the same tenant's days at once; the second waits
// for the first to commit, so that its delete sees the rows the first inserted.
const countsLock = (tenantId: number) => sql`select pg_advisory_xact_lock(hashtextextended(${`active_user_count:${tenantId}`}, 0))`;

/**
 * Recounts a tenant's stored counts on the days [from, to] from active_user_day, in the caller's
 * transaction: a day nobody was active on in its 30 days keeps no row. `db` is the pipeline's admin
 * transaction or a tenant's own (the policy then admits only that tenant's rows).
 */
export async function refreshActiveUserCounts(db: Kysely<DB>, tenantId: number, from: string, to: string): Promise<number> {
  await countsLock(tenantId).execute(db);
  await db.deleteFrom('active_user_count').where('tenant_id', '=', tenantId)
    .where('day', '>=', from).where('day', '<=', to).execute();
  const { rows } = await countActiveUsers(tenantId, from, to, { runs: true }).execute(db);
  const kept = rows.filter((row) => row.mau > 0);
  if (kept.length === 0) return 0;
  // Read, then inserted as VALUES: Citus moves an INSERT … SELECT whose rows come from the
  // coordinator through COPY, which row-level security refuses (a user's delete runs under it).
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

/**
 * Recounts the days that active days on [from, to] count in (to the 29th day after), or every day
 * of a tenant not counted yet: counting only the recent days of such a tenant would leave its older
 * ones at zero.
 */
export async function recountAfterWrite(db: Kysely<DB>, tenantId: number, span: { from: string; to: string }): Promise<number> {
  const whole = await hasStoredCounts(db, tenantId) ? span : await activeDaySpan(db, tenantId);
  return whole ? refreshActiveUserCounts(db, tenantId, whole.from, addDays(whole.to, WINDOW_DAYS - 1)) : 0;
}
