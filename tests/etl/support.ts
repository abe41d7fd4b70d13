import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../../src/db/database.js';
import { runPipeline, type RunOptions, type RunResult } from '../../src/etl/user-analytics/pipeline.js';
import { waitForCommitHorizon, type NodeWindow } from '../../src/etl/user-analytics/extractors.js';
import type { Watermark } from '../../src/repositories/pipeline-watermark.js';
import { createTenant } from '../helpers/fixtures.js';

export interface SeededTenant {
  tenantId: number;
  userIds: number[];
}

/** A tenant with `users` users, inserted in one statement (the admin handle bypasses the policies). */
export async function seedTenant(database: Database, users: number, name = 'Analytics'): Promise<SeededTenant> {
  const tenant = await createTenant(database, name);
  const rows = await database.admin.insertInto('app_user').values(Array.from({ length: users }, (_, index) => ({
    tenant_id: tenant.id, email: `user${index}-${randomUUID().slice(0, 8)}@example.com`, username: `user${index}`,
  }))).returning('id').execute();
  return { tenantId: tenant.id, userIds: rows.map((row) => row.id) };
}

export interface ActivityInput {
  tenantId: number;
  userId: number;
  type: string;
  at: string;
}

export interface EventInput {
  tenantId: number;
  userId: number | null;
  name: string;
  at: string;
}

export async function insertActivities(database: Database, rows: readonly ActivityInput[]): Promise<void> {
  if (rows.length === 0) return;
  await database.admin.insertInto('user_activity').values(rows.map((row) => ({
    tenant_id: row.tenantId, user_id: row.userId, activity_type: row.type, created_at: row.at,
  }))).execute();
}

export async function insertEvents(database: Database, rows: readonly EventInput[]): Promise<void> {
  if (rows.length === 0) return;
  await database.admin.insertInto('event').values(rows.map((row) => ({
    tenant_id: row.tenantId, client_id: randomUUID(), distinct_id: `d-${row.userId ?? 'anon'}`, user_id: row.userId,
    name: row.name, occurred_at: row.at,
  }))).execute();
}

/** Every transaction committed before the call is below the commit horizon: the next run reads it. */
export async function horizonPassed(database: Database): Promise<void> {
  await waitForCommitHorizon(database.admin);
}

/**
 * The two ways a run can go, forced whatever the window's size: every row through Node (keyset
 * chunks, zod per row), or counted and staged in SQL. Tests of a guarantee run on both.
 */
export const paths: ReadonlyArray<readonly [string, RunOptions]> = [
  ['per-row', { perRowLimit: Number.MAX_SAFE_INTEGER }],
  ['set-based', { perRowLimit: 0 }],
];

/** One run that reads every row committed before the call. */
export async function catchUp(database: Database, options: RunOptions = {}): Promise<RunResult> {
  await horizonPassed(database);
  return runPipeline(database, options);
}

export function succeeded(result: RunResult) {
  if (result.status !== 'succeeded') throw new Error(`expected a succeeded run, got ${JSON.stringify(result)}`);
  return result;
}

const notQuarantined = (source: string) => sql`not exists (select 1 from etl_quarantine q
  where q.tenant_id = s.tenant_id and q.source = ${source} and q.source_id = s.id)`;

/** Source rows (not quarantined) as (tenant, day, user) facts, straight from the raw tables. */
function rawUserDays(tenantIds: readonly number[]) {
  return sql`(select s.tenant_id, (s.created_at at time zone 'UTC')::date as day, s.user_id from user_activity s
      where s.tenant_id = any(${[...tenantIds]}::bigint[]) and ${notQuarantined('user_activity')}
    union
    select s.tenant_id, (s.occurred_at at time zone 'UTC')::date, s.user_id from event s
      where s.tenant_id = any(${[...tenantIds]}::bigint[]) and s.user_id is not null and ${notQuarantined('event')})`;
}

export interface MetricFact {
  tenant_id: number;
  name: string;
  dimension: string;
  day: string;
  value: number;
}

/** What every metric should hold, computed in one SQL statement over the raw rows. */
export async function expectedMetrics(database: Database, tenantIds: readonly number[]): Promise<MetricFact[]> {
  const { rows } = await sql<MetricFact>`
    select tenant_id, 'activities' as name, activity_type as dimension, (created_at at time zone 'UTC')::date as day, count(*) as value
      from user_activity s where s.tenant_id = any(${[...tenantIds]}::bigint[]) and ${notQuarantined('user_activity')} group by 1, 2, 3, 4
    union all
    select tenant_id, 'events', name, (occurred_at at time zone 'UTC')::date, count(*)
      from event s where s.tenant_id = any(${[...tenantIds]}::bigint[]) and ${notQuarantined('event')} group by 1, 2, 3, 4
    union all
    select tenant_id, 'new_users', '', first_day, count(*)
      from (select tenant_id, user_id, min(day) as first_day from ${rawUserDays(tenantIds)} as u group by 1, 2) as f group by 1, 2, 3, 4
    order by 1, 2, 3, 4`.execute(database.admin);
  return rows;
}

export async function loadedMetrics(database: Database, tenantIds: readonly number[]): Promise<MetricFact[]> {
  return database.admin.selectFrom('metric').select(['tenant_id', 'name', 'dimension', 'day', 'value'])
    .where('tenant_id', 'in', [...tenantIds]).orderBy('tenant_id').orderBy('name').orderBy('dimension').orderBy('day').execute();
}

export async function expectedActiveUserDays(database: Database, tenantIds: readonly number[]) {
  const { rows } = await sql<{ tenant_id: number; day: string; user_id: number }>`
    select tenant_id, day, user_id from ${rawUserDays(tenantIds)} as u order by 1, 2, 3`.execute(database.admin);
  return rows;
}

export async function loadedActiveUserDays(database: Database, tenantIds: readonly number[]) {
  return database.admin.selectFrom('active_user_day').select(['tenant_id', 'day', 'user_id'])
    .where('tenant_id', 'in', [...tenantIds]).orderBy('tenant_id').orderBy('day').orderBy('user_id').execute();
}

/** DAU, WAU and MAU of each day of [from, to], straight from the raw rows. */
export async function expectedActiveUsers(database: Database, tenantId: number, from: string, to: string) {
  const { rows } = await sql<{ day: string; dau: number; wau: number; mau: number }>`
    with u as ${rawUserDays([tenantId])}
    select d::date as day,
      (select count(distinct user_id) from u where u.day = d::date) as dau,
      (select count(distinct user_id) from u where u.day between d::date - 6 and d::date) as wau,
      (select count(distinct user_id) from u where u.day between d::date - 29 and d::date) as mau
    from generate_series(${from}::timestamp, ${to}::timestamp, interval '1 day') as d order by 1`.execute(database.admin);
  return rows;
}

/** Cohort week → users active in each later week, straight from the raw rows. */
export async function expectedRetention(database: Database, tenantId: number, start: string, weeks: number) {
  const { rows } = await sql<{ cohort: string; week_offset: number; users: number }>`
    with u as ${rawUserDays([tenantId])},
    first_seen as (select user_id, date_trunc('week', min(day)::timestamp)::date as cohort from u group by user_id)
    select f.cohort, (date_trunc('week', u.day::timestamp)::date - f.cohort) / 7 as week_offset, count(distinct u.user_id) as users
    from first_seen f join u using (user_id)
    where f.cohort >= ${start}::date and f.cohort < ${start}::date + 7 * ${weeks}
      and u.day < ${start}::date + 7 * ${weeks}
    group by 1, 2 order by 1, 2`.execute(database.admin);
  return rows;
}

// A run's bound on the row's node: the watermark there once the run had committed (a backfill reads
// below the watermark it found, which no later run can have moved before it committed).
const belowRunBound = sql`s.ingest_xid < coalesce((select max(w.xid_to) from etl_run_window w
  where w.pipeline = r.pipeline and w.node = s.ingest_node and w.etl_run_id <= r.id), '0'::xid8)`;
// The rows a run read: its own window on the row's node, or everything below the bound for a backfill.
const inRunWindow = sql`(case when r.mode = 'backfill' then ${belowRunBound} else exists (select 1 from etl_run_window w
  where w.etl_run_id = r.id and w.node = s.ingest_node and s.ingest_xid >= w.xid_from and s.ingest_xid < w.xid_to) end)`;

/** Each node's start and end of a run's windows (node → xid). */
export const windowStarts = (windows: readonly NodeWindow[]) => Object.fromEntries(windows.map((window) => [window.node, window.xidFrom]));
export const windowEnds = (windows: readonly NodeWindow[]) => Object.fromEntries(windows.map((window) => [window.node, window.xidTo]));
/** The windows of a run that started at the watermark: each node where it stood, or 0. */
export const watermarkStarts = (windows: readonly NodeWindow[], watermark: Watermark) =>
  Object.fromEntries(windows.map((window) => [window.node, watermark.xids.get(window.node) ?? '0']));

/**
 * Every derived row against the run it names: the run succeeded, its window holds rows the derived
 * row counted, and the value equals the raw rows below the run's upper bound. Returns the rows that
 * break it (none, when lineage holds) and how many rows were checked.
 */
export async function lineageViolations(database: Database) {
  const { rows: metrics } = await sql<{ tenant_id: number; name: string; dimension: string; day: string; problem: string }>`
    with checked as (
      select m.*, r.status,
        case m.name
          when 'activities' then (select count(*) from user_activity s where s.tenant_id = m.tenant_id and s.activity_type = m.dimension
            and (s.created_at at time zone 'UTC')::date = m.day and ${belowRunBound} and ${notQuarantined('user_activity')})
          when 'events' then (select count(*) from event s where s.tenant_id = m.tenant_id and s.name = m.dimension
            and (s.occurred_at at time zone 'UTC')::date = m.day and ${belowRunBound} and ${notQuarantined('event')})
          else (select count(*) from (
            select u.user_id from (
              select s.user_id, (s.created_at at time zone 'UTC')::date as day from user_activity s
                where s.tenant_id = m.tenant_id and ${belowRunBound} and ${notQuarantined('user_activity')}
              union all
              select s.user_id, (s.occurred_at at time zone 'UTC')::date from event s
                where s.tenant_id = m.tenant_id and s.user_id is not null and ${belowRunBound} and ${notQuarantined('event')}
            ) as u group by u.user_id having min(u.day) = m.day) as first_seen)
        end as counted,
        case m.name
          when 'activities' then exists (select 1 from user_activity s where s.tenant_id = m.tenant_id and s.activity_type = m.dimension
            and (s.created_at at time zone 'UTC')::date = m.day and ${inRunWindow})
          when 'events' then exists (select 1 from event s where s.tenant_id = m.tenant_id and s.name = m.dimension
            and (s.occurred_at at time zone 'UTC')::date = m.day and ${inRunWindow})
          else true
        end as in_window
      from metric m join etl_run r on r.id = m.etl_run_id
    )
    select tenant_id, name, dimension, day::text,
      case when status <> 'succeeded' then 'run not succeeded' when not in_window then 'no counted row in the run window'
        else 'value ' || value || ' but ' || counted || ' rows below the run bound' end as problem
    from checked where status <> 'succeeded' or not in_window or value <> counted`.execute(database.admin);
  const { rows: userDays } = await sql<{ tenant_id: number; day: string; user_id: number }>`
    select a.tenant_id, a.day::text, a.user_id from active_user_day a join etl_run r on r.id = a.etl_run_id
    where r.status <> 'succeeded' or not exists (
      select 1 from user_activity s where s.tenant_id = a.tenant_id and s.user_id = a.user_id
        and (s.created_at at time zone 'UTC')::date = a.day and ${inRunWindow}
      union all
      select 1 from event s where s.tenant_id = a.tenant_id and s.user_id = a.user_id
        and (s.occurred_at at time zone 'UTC')::date = a.day and ${inRunWindow})`.execute(database.admin);
  // Each run's rows per source, counted by joining its windows (grouped per run, not a subquery per
  // run): Citus can plan a join of the windows' reference table with the shards, not a correlation.
  const perRun = (source: 'user_activity' | 'event') => sql`(select w.etl_run_id, count(*) as rows, sum(s.id)::text as id_sum
    from etl_run_window w join ${sql.table(source)} s on s.ingest_node = w.node and s.ingest_xid >= w.xid_from and s.ingest_xid < w.xid_to
    where ${notQuarantined(source)} group by w.etl_run_id)`;
  const { rows: checksums } = await sql<{ id: number }>`
    with activities as ${perRun('user_activity')}, events as ${perRun('event')}
    select r.id from etl_run r
      left join activities a on a.etl_run_id = r.id
      left join events e on e.etl_run_id = r.id
    where r.status = 'succeeded' and r.mode = 'incremental' and (
      (r.checksums -> 'user_activity' ->> 'rows')::bigint <> coalesce(a.rows, 0)
      or (r.checksums -> 'user_activity' ->> 'idSum') <> coalesce(a.id_sum, '0')
      or (r.checksums -> 'event' ->> 'rows')::bigint <> coalesce(e.rows, 0)
      or (r.checksums -> 'event' ->> 'idSum') <> coalesce(e.id_sum, '0'))`.execute(database.admin);
  const { rows: [checked] } = await sql<{ metrics: number; days: number; runs: number }>`
    select (select count(*) from metric) as metrics, (select count(*) from active_user_day) as days,
      (select count(*) from etl_run where status = 'succeeded') as runs`.execute(database.admin);
  return { metrics, userDays, checksums, checked: checked! };
}
