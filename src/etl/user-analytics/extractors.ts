import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../../db/schema.generated.js';

export type Source = 'user_activity' | 'event';
export const sources: readonly Source[] = ['user_activity', 'event'];

/** One source row, reduced to what the daily metrics need. */
export interface SourceRow {
  source: Source;
  tenantId: number;
  id: number;
  /** The transaction that wrote the row (xid8 as decimal text: it outgrows 2^53). */
  xid: string;
  userId: number | null;
  /** activity_type for activities, name for events. */
  name: string;
  /** UTC day of created_at (activities) or occurred_at (events): late rows count on their own day. */
  day: string;
}

/**
 * The rows a run reads: those written by transactions in [xidFrom, xidTo); a backfill also narrows
 * them to the days it rebuilds. Rows already quarantined are never read again.
 */
export interface ExtractScope {
  xidFrom: string;
  xidTo: string;
  days?: { from: string; to: string };
}

const shape = {
  user_activity: { table: sql.table('user_activity'), name: sql.ref('s.activity_type'), at: sql.ref('s.created_at') },
  event: { table: sql.table('event'), name: sql.ref('s.name'), at: sql.ref('s.occurred_at') },
} as const;

function inScope(source: Source, scope: ExtractScope): RawBuilder<unknown> {
  const { at } = shape[source];
  const days = scope.days
    ? sql`and ${at} >= (${scope.days.from}::date)::timestamp at time zone 'UTC'
          and ${at} < (${scope.days.to}::date + 1)::timestamp at time zone 'UTC'`
    : sql``;
  return sql`s.ingest_xid >= ${scope.xidFrom}::xid8 and s.ingest_xid < ${scope.xidTo}::xid8 ${days}
    and not exists (select 1 from etl_quarantine q
      where q.tenant_id = s.tenant_id and q.source = ${source} and q.source_id = s.id)`;
}

export interface Watermark {
  /** Every row of a transaction below this xid has been counted (or quarantined). */
  xid: string;
  runId: number | null;
}

/** The user-analytics pipeline's name in etl_run (its watermark's key). */
export const PIPELINE = 'user-analytics';

/**
 * Where the last succeeded incremental run of the pipeline stopped; '0' before the first. Runs form
 * a chain (each starts where the last ended, and an empty window writes no run), so the last one
 * also has the highest xid_from: etl_run_incremental_chain_key finds it.
 */
export async function lastWatermark(db: Kysely<DB>, pipeline: string): Promise<Watermark> {
  const last = await db.selectFrom('etl_run').select(['id', sql<string>`xid_to::text`.as('xid')])
    .where('pipeline', '=', pipeline).where('status', '=', 'succeeded').where('mode', '=', 'incremental')
    .orderBy(sql`xid_from`, 'desc').limit(1).executeTakeFirst();
  return { xid: last?.xid ?? '0', runId: last?.id ?? null };
}

/**
 * The lowest transaction still running when this snapshot was taken: every transaction below it
 * has committed or aborted, so no row behind it can appear later, whatever its id.
 */
export async function commitHorizon(db: Kysely<DB>): Promise<string> {
  const { rows } = await sql<{ xid: string }>`select pg_snapshot_xmin(pg_current_snapshot())::text as xid`.execute(db);
  return rows[0]!.xid;
}

/**
 * Waits until every transaction that committed before this call is below the commit horizon, so the
 * next run is certain to read its rows; open transactions elsewhere on the server hold it back.
 */
export async function waitForCommitHorizon(db: Kysely<DB>): Promise<void> {
  const { rows: [mark] } = await sql<{ xid: string }>`select pg_current_xact_id()::text as xid`.execute(db);
  while (BigInt(await commitHorizon(db)) <= BigInt(mark!.xid)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function* keysetChunks(db: Kysely<DB>, source: Source, scope: ExtractScope, chunkSize: number): AsyncGenerator<SourceRow[]> {
  const { table, name, at } = shape[source];
  let after = { xid: scope.xidFrom, id: 0 };
  for (;;) {
    const { rows } = await sql<{ tenant_id: number; id: number; xid: string; user_id: number | null; name: string; day: string }>`
      select s.tenant_id, s.id, s.ingest_xid::text as xid, s.user_id, ${name} as name,
        (${at} at time zone 'UTC')::date as day
      from ${table} s
      where (s.ingest_xid, s.id) > (${after.xid}::xid8, ${after.id}::bigint) and ${inScope(source, scope)}
      order by s.ingest_xid, s.id
      limit ${chunkSize}`.execute(db);
    if (rows.length === 0) return;
    yield rows.map((row) => ({ source, tenantId: row.tenant_id, id: row.id, xid: row.xid, userId: row.user_id, name: row.name, day: String(row.day) }));
    if (rows.length < chunkSize) return;
    const last = rows[rows.length - 1]!;
    after = { xid: last.xid, id: last.id };
  }
}

/**
 * Keyset chunks of the scope, in commit-key order (ingest_xid, id), served by the (ingest_xid, id)
 * index. Must run inside a transaction: it changes a planner setting for the transaction's duration.
 */
export async function* extractChunks(db: Kysely<DB>, source: Source, scope: ExtractScope, chunkSize: number): AsyncGenerator<SourceRow[]> {
  // The planner estimates the keyset bound from its first column alone: when a batch shares one
  // ingest_xid it expects one row and sorts everything after the bound for every chunk (0.74 s
  // instead of 19 ms per 20k-row chunk, measured on 1M rows). Ordered index scans only, then.
  const { rows: [previous] } = await sql<{ setting: string }>`
    select current_setting('enable_sort') as setting, set_config('enable_sort', 'off', true)`.execute(db);
  try {
    yield* keysetChunks(db, source, scope, chunkSize);
  } finally {
    await sql`select set_config('enable_sort', ${previous!.setting}, true)`.execute(db);
  }
}

export interface UserKey {
  tenantId: number;
  userId: number;
}

export const userKey = (tenantId: number, userId: number): string => `${tenantId}:${userId}`;

/** The first active day already loaded for each of these users (absent: never seen before). */
export async function loadedFirstDays(db: Kysely<DB>, users: UserKey[], batchSize = 10_000): Promise<Map<string, string>> {
  const firstDays = new Map<string, string>();
  for (let start = 0; start < users.length; start += batchSize) {
    const batch = users.slice(start, start + batchSize);
    const { rows } = await sql<{ tenant_id: number; user_id: number; day: string }>`
      select a.tenant_id, a.user_id, min(a.day) as day
      from unnest(${batch.map((user) => user.tenantId)}::bigint[], ${batch.map((user) => user.userId)}::bigint[]) as u(tenant_id, user_id)
      join active_user_day a on a.tenant_id = u.tenant_id and a.user_id = u.user_id
      group by a.tenant_id, a.user_id`.execute(db);
    for (const row of rows) firstDays.set(userKey(row.tenant_id, row.user_id), row.day);
  }
  return firstDays;
}

/** Per tenant and day, counted by the database itself: the other side of the reconciliation. */
export interface SourceTotal {
  tenantId: number;
  day: string;
  activities: number;
  events: number;
  activeUsers: number;
}

/**
 * Every row of the scope from both sources, one shape: what the set-based path aggregates in SQL
 * instead of moving rows through Node.
 */
export function windowRows(scope: ExtractScope): RawBuilder<unknown> {
  return sql`(select 'user_activity'::text as source, s.tenant_id, s.id, s.user_id, s.activity_type as name,
      (s.created_at at time zone 'UTC')::date as day, s.ingest_xid
    from user_activity s where ${inScope('user_activity', scope)}
    union all
    select 'event', s.tenant_id, s.id, s.user_id, s.name, (s.occurred_at at time zone 'UTC')::date, s.ingest_xid
    from event s where ${inScope('event', scope)})`;
}

// count(distinct) sorts each (tenant, day) group in memory: 0.7 s of backend CPU over 1M rows, against
// 1.3 s for the same counts as two hash aggregations (measured serial, 768k user days).
export async function sourceTotals(db: Kysely<DB>, scope: ExtractScope): Promise<SourceTotal[]> {
  const { rows } = await sql<{ tenant_id: number; day: string; activities: number; events: number; active_users: number }>`
    select tenant_id, day, count(*) filter (where source = 'user_activity') as activities,
      count(*) filter (where source = 'event') as events, count(distinct user_id) as active_users
    from ${windowRows(scope)} as w group by tenant_id, day`.execute(db);
  return rows.map((row) => ({
    tenantId: row.tenant_id, day: String(row.day), activities: row.activities, events: row.events, activeUsers: row.active_users,
  }));
}

/** How many rows the scope holds, counting no further than `limit`: what decides the path of a run. */
export async function windowSizeUpTo(db: Kysely<DB>, scope: ExtractScope, limit: number): Promise<number> {
  const { rows } = await sql<{ rows: number }>`
    select count(*) as rows from (select 1 from ${windowRows(scope)} as w limit ${limit}) as bounded`.execute(db);
  return rows[0]!.rows;
}

/** The rows of the scope a predicate over the window's shape (alias w) flags, as the per-row path reads them. */
export async function suspectRows(db: Kysely<DB>, scope: ExtractScope, flagged: RawBuilder<boolean>): Promise<SourceRow[]> {
  const { rows } = await sql<{ source: Source; tenant_id: number; id: number; xid: string; user_id: number | null; name: string; day: string }>`
    select w.source, w.tenant_id, w.id, w.ingest_xid::text as xid, w.user_id, w.name, w.day
    from ${windowRows(scope)} as w where ${flagged}
    order by w.source, w.ingest_xid, w.id`.execute(db);
  return rows.map((row) => ({ source: row.source, tenantId: row.tenant_id, id: row.id, xid: row.xid, userId: row.user_id, name: row.name, day: String(row.day) }));
}
