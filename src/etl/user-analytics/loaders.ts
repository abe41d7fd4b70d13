import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../../db/schema.generated.js';
import type { ActiveUserDayRow, MetricDelta } from '../../models/analytics.js';
import type { DaySpans } from '../../repositories/active-user-counts.js';
import type { NodeWindow, Source, SourceRow } from './extractors.js';
import type { SourceStats } from './transformers.js';
import type { Rejection } from './validators.js';

const STATEMENT_ROWS = 20_000;

// node-postgres reports a row count for every insert, update and delete.
const affected = (result: { numAffectedRows?: bigint }) => Number(result.numAffectedRows ?? 0n);

// A statement carries at most 65,535 parameters: a quarantined row takes 6 of them.
const QUARANTINE_ROWS = 10_000;

function* batches<T>(rows: readonly T[], size = STATEMENT_ROWS): Generator<T[]> {
  for (let start = 0; start < rows.length; start += size) yield rows.slice(start, start + size);
}

/** What a run read from one source: how many rows, their id span and a sum a later audit can recompute. */
export interface SourceChecksum {
  rows: number;
  minId: number;
  maxId: number;
  /** Decimal: the sum of ids outgrows 2^53 on a large table. */
  idSum: string;
}

export class ChecksumTally {
  private readonly tallies = new Map<Source, { rows: number; minId: number; maxId: number; idSum: bigint }>();

  /** Starts from what the database tallied (the set-based path); rows zod passed one by one are added after. */
  static fromStats(stats: Record<Source, SourceStats>): ChecksumTally {
    const tally = new ChecksumTally();
    for (const [source, { rows, minId, maxId, idSum }] of Object.entries(stats) as Array<[Source, SourceStats]>) {
      if (rows > 0) tally.tallies.set(source, { rows, minId: minId!, maxId: maxId!, idSum });
    }
    return tally;
  }

  add(rows: readonly SourceRow[]): void {
    for (const row of rows) {
      let tally = this.tallies.get(row.source);
      if (!tally) this.tallies.set(row.source, tally = { rows: 0, minId: row.id, maxId: row.id, idSum: 0n });
      tally.rows += 1;
      tally.idSum += BigInt(row.id);
      if (row.id < tally.minId) tally.minId = row.id;
      if (row.id > tally.maxId) tally.maxId = row.id;
    }
  }

  of(source: Source): SourceChecksum {
    const tally = this.tallies.get(source);
    return tally ? { ...tally, idSum: String(tally.idSum) } : { rows: 0, minId: 0, maxId: 0, idSum: '0' };
  }
}

export interface RunRecord {
  pipeline: string;
  mode: 'incremental' | 'backfill';
  status: 'succeeded' | 'failed';
  /** What the run read (or attempted) on each node. */
  windows: readonly NodeWindow[];
  rowsRead: number;
  checksums: { user_activity: SourceChecksum; event: SourceChecksum; quarantined: number; days?: { from: string; to: string } };
  startedAt: Date;
  error?: string;
}

/**
 * Writes the run's lineage row, its windows among its checksums. A succeeded incremental run also
 * writes the windows it moves the watermark by, the non-empty ones: an empty window starts where the
 * next one on its node will, and etl_run_window_chain_key refuses a second window starting at the
 * same point, which is what keeps a batch loaded once, whatever the callers do.
 */
export async function insertRun(db: Kysely<DB>, run: RunRecord): Promise<number> {
  const { user_activity: activities, event: events } = run.checksums;
  const row = await db.insertInto('etl_run').values({
    pipeline: run.pipeline,
    mode: run.mode,
    status: run.status,
    activity_from: activities.minId,
    activity_to: activities.maxId,
    event_from: events.minId,
    event_to: events.maxId,
    rows_read: run.rowsRead,
    checksums: JSON.stringify({ ...run.checksums, windows: run.windows }),
    error: run.error ?? null,
    started_at: run.startedAt,
    finished_at: run.status === 'failed' ? sql`clock_timestamp()` : null,
  }).returning('id').executeTakeFirstOrThrow();
  const moved = run.windows.filter((window) => BigInt(window.xidTo) > BigInt(window.xidFrom));
  if (run.status === 'succeeded' && run.mode === 'incremental' && moved.length > 0) {
    await db.insertInto('etl_run_window').values(moved.map((window) => ({
      etl_run_id: row.id, pipeline: run.pipeline, node: window.node, xid_from: window.xidFrom, xid_to: window.xidTo,
    }))).execute();
  }
  return row.id;
}

export async function finishRun(db: Kysely<DB>, runId: number, rowsWritten: number): Promise<void> {
  // Read first: Citus refuses a volatile function in an UPDATE of a distributed (or reference) table.
  const { rows: [clock] } = await sql<{ at: Date }>`select clock_timestamp() as at`.execute(db);
  await db.updateTable('etl_run').set({ rows_written: rowsWritten, finished_at: clock!.at })
    .where('id', '=', runId).execute();
}

function changes(batch: readonly MetricDelta[]) {
  return sql`unnest(${batch.map((change) => change.tenantId)}::bigint[], ${batch.map((change) => change.name)}::text[],
    ${batch.map((change) => change.dimension)}::text[], ${batch.map((change) => change.day)}::date[],
    ${batch.map((change) => change.value)}::bigint[]) as change(tenant_id, name, dimension, day, value)`;
}

/**
 * Adds each change to its daily metric. Adding is only sound because a batch is applied once:
 * the run holds the pipeline lock, reads the watermark under it, and commits its etl_run row
 * (guarded by the chain key) in this same transaction.
 */
export async function addToMetrics(db: Kysely<DB>, runId: number, metrics: readonly MetricDelta[]): Promise<number> {
  let written = 0;
  // A new row can only start positive; changes of zero or less fall on a day already counted.
  const growing = metrics.filter((metric) => metric.value > 0);
  const shrinking = metrics.filter((metric) => metric.value <= 0);
  for (const batch of batches(growing)) {
    const result = await sql`
      insert into metric (tenant_id, name, dimension, day, value, etl_run_id, updated_at)
      select tenant_id, name, dimension, day, value, ${runId}, now() from ${changes(batch)}
      on conflict (tenant_id, name, dimension, day) do update
        -- excluded.updated_at, not now(): Citus takes only immutable functions in DO UPDATE SET.
        set value = metric.value + excluded.value, etl_run_id = excluded.etl_run_id, updated_at = excluded.updated_at`.execute(db);
    written += affected(result);
  }
  for (const batch of batches(shrinking)) {
    const result = await sql`
      update metric set value = metric.value + change.value, etl_run_id = ${runId}, updated_at = now()
      from ${changes(batch)}
      where metric.tenant_id = change.tenant_id and metric.name = change.name
        and metric.dimension = change.dimension and metric.day = change.day`.execute(db);
    written += affected(result);
    // A day nobody is new on any more has no metric row, as if it had never counted anyone.
    await sql`
      delete from metric using ${changes(batch)}
      where metric.tenant_id = change.tenant_id and metric.name = change.name
        and metric.dimension = change.dimension and metric.day = change.day and metric.value = 0`.execute(db);
  }
  return written;
}

/**
 * The rows an INSERT … ON CONFLICT DO NOTHING wrote, counted from what it returns: Citus runs an
 * INSERT … SELECT of rows from the coordinator by sending them to the shards, and its row count is
 * then the rows sent, skipped conflicts included.
 */
async function insertedRows(db: Kysely<DB>, insert: RawBuilder<unknown>): Promise<number> {
  const { rows: [inserted] } = await sql<{ rows: number }>`with inserted as (${insert} returning 1) select count(*) as rows from inserted`.execute(db);
  return inserted!.rows;
}

/** Rows already present keep the run that first saw the user that day. */
export async function insertActiveUserDays(db: Kysely<DB>, runId: number, rows: readonly ActiveUserDayRow[]): Promise<number> {
  let written = 0;
  for (const batch of batches(rows)) {
    written += await insertedRows(db, sql`
      insert into active_user_day (tenant_id, day, user_id, etl_run_id)
      select tenant_id, day, user_id, ${runId}
      from unnest(${batch.map((r) => r.tenantId)}::bigint[], ${batch.map((r) => r.day)}::date[], ${batch.map((r) => r.userId)}::bigint[])
        as seen(tenant_id, day, user_id)
      on conflict do nothing`);
  }
  return written;
}

/**
 * The staged active user days (stageUserDays), in the key order they were written in: a sequential
 * scan of a temporary table returns its rows in the order its one writer put them, so they are not
 * sorted again. ON CONFLICT made loading 768k rows 0.8–1.3 s slower, and it is needed only where a
 * tenant already has user days on a staged day, which a full run and a backfill (after clearDays)
 * never find. Runs hold the pipeline lock, so a conflict the plain insert meets comes from a writer
 * outside the pipeline: the run fails with 23505 and loads nothing, as ON CONFLICT under repeatable
 * read fails on a row committed after the run's snapshot. The overlap is a join, not a correlated
 * EXISTS: the same semi-join plan on a single server, and one Citus can plan over a temporary table.
 */
export async function insertStagedUserDays(db: Kysely<DB>, runId: number): Promise<number> {
  const { rows: [staged] } = await sql<{ overlaps: boolean }>`
    select exists (select 1 from (select distinct tenant_id, day from etl_user_day) as staged
      join active_user_day a on a.tenant_id = staged.tenant_id and a.day = staged.day) as overlaps`.execute(db);
  const insert = sql`
    insert into active_user_day (tenant_id, day, user_id, etl_run_id)
    select tenant_id, day, user_id, ${runId} from etl_user_day`;
  return staged!.overlaps ? insertedRows(db, sql`${insert} on conflict do nothing`) : affected(await insert.execute(db));
}

export async function quarantineRows(db: Kysely<DB>, runId: number, rejections: readonly Rejection[]): Promise<number> {
  let written = 0;
  for (const batch of batches(rejections, QUARANTINE_ROWS)) {
    const result = await db.insertInto('etl_quarantine').values(batch.map(({ row, reason }) => ({
      tenant_id: row.tenantId,
      source: row.source,
      source_id: row.id,
      etl_run_id: runId,
      reason,
      row_data: JSON.stringify({ ...row, source: undefined }),
    }))).onConflict((conflict) => conflict.columns(['tenant_id', 'source', 'source_id']).doNothing()).executeTakeFirst();
    written += Number(result.numInsertedOrUpdatedRows);
  }
  return written;
}

/** Removes the derived rows of these days (every tenant) before a backfill recounts them; returns the tenants touched. */
export async function clearDays(db: Kysely<DB>, from: string, to: string): Promise<number[]> {
  const metrics = await db.deleteFrom('metric').where('name', 'in', ['activities', 'events'])
    .where('day', '>=', from).where('day', '<=', to).returning('tenant_id').execute();
  const days = await db.deleteFrom('active_user_day').where('day', '>=', from).where('day', '<=', to)
    .returning('tenant_id').execute();
  return [...new Set([...metrics, ...days].map((row) => row.tenant_id))];
}

/** new_users for these tenants, recounted from active_user_day: a user is new on their first active day. */
export async function recountNewUsers(db: Kysely<DB>, runId: number, tenantIds: readonly number[]): Promise<number> {
  if (tenantIds.length === 0) return 0;
  await db.deleteFrom('metric').where('name', '=', 'new_users').where('tenant_id', 'in', tenantIds).execute();
  const result = await sql`
    insert into metric (tenant_id, name, dimension, day, value, etl_run_id)
    select tenant_id, 'new_users', '', first_day, count(*), ${runId}
    from (select tenant_id, user_id, min(day) as first_day from active_user_day
          where tenant_id = any(${[...tenantIds]}::bigint[]) group by tenant_id, user_id) as first_seen
    group by tenant_id, first_day`.execute(db);
  return affected(result);
}

type Spans = Map<number, { from: string; to: string }>;

function widen(spans: Spans, tenantId: number, from: string, to: string): void {
  const span = spans.get(tenantId);
  if (!span) spans.set(tenantId, { from, to });
  else spans.set(tenantId, { from: from < span.from ? from : span.from, to: to > span.to ? to : span.to });
}

/** The spans of the user days a run loads, from memory or from the staged table. */
export async function loadedDaySpans(db: Kysely<DB>, rows: readonly ActiveUserDayRow[] | 'staged'): Promise<Spans> {
  const spans: Spans = new Map();
  if (rows === 'staged') {
    const { rows: staged } = await sql<{ tenant_id: number; from: string; to: string }>`
      select tenant_id, min(day) as from, max(day) as to from etl_user_day group by tenant_id`.execute(db);
    for (const span of staged) widen(spans, span.tenant_id, span.from, span.to);
  } else {
    for (const row of rows) widen(spans, row.tenantId, row.day, row.day);
  }
  return spans;
}

/** A backfill batch rewrote every day of its range for the tenants it cleared or loaded. */
export function withClearedDays(spans: Spans, tenantIds: readonly number[], from: string, to: string): DaySpans {
  for (const tenantId of [...tenantIds, ...spans.keys()]) widen(spans, tenantId, from, to);
  return spans;
}
