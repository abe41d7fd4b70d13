import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../db/database.js';
import { hasCitus } from '../../db/distribution.js';
import type { DB } from '../../db/schema.generated.js';
import { StrataError } from '../../errors.js';
import {
  addDays, backfillInput, daysBetween, type ActiveUserDayRow, type DayBounds, type MetricDelta,
} from '../../models/analytics.js';
import { parseInput } from '../../models/validation.js';
import { markCountsStale } from '../../repositories/active-user-counts.js';
import { lastWatermark, PIPELINE, uncountedBy, type NodeXids } from '../../repositories/pipeline-watermark.js';
import {
  commitHorizon, extractChunks, loadedFirstDays, sources, sourceTotals, suspectRows, windowRows, windowSizeUpTo, windowsTo,
  type ExtractScope, type NodeWindow,
} from './extractors.js';
import {
  addToMetrics, ChecksumTally, clearDays, finishRun, insertActiveUserDays, insertRun, insertStagedUserDays, loadedDaySpans,
  quarantineRows, recountNewUsers, withClearedDays, type RunRecord,
} from './loaders.js';
import { countWindow, DailyRollup, newUserDeltas, stagedFirstDays, stageUserDays } from './transformers.js';
import {
  checkStagedUserDays, dayBounds, reconcile, reconcileCounts, SourceRowValidator, suspectRow, validateOutput, type Rejection,
} from './validators.js';

export { PIPELINE };
const DEFAULT_CHUNK_SIZE = 20_000;
// Medians of incremental runs after 1M rows, row by row against set-based: 20 rows 16 against 18 ms,
// 100 rows 29 against 22 ms, 1k 105 against 73 ms, 10k 516 against 380 ms. See RunOptions.perRowLimit.
const DEFAULT_PER_ROW_LIMIT = 50;

/**
 * What a run is about to load: metric changes, and the active user days either in memory (a small
 * window) or staged in a temporary table of the run's transaction (a large one).
 */
export interface RunOutput {
  metrics: MetricDelta[];
  activeUserDays: ActiveUserDayRow[] | 'staged';
}

/** Test and operations seams between stages; a hook that throws aborts the run with nothing loaded. */
export interface PipelineHooks {
  afterExtract?(rowsRead: number): void | Promise<void>;
  afterTransform?(output: RunOutput): void | Promise<void>;
  afterValidate?(output: RunOutput): void | Promise<void>;
  /** Inside the load transaction, after the rows are written and before the run is committed. */
  duringLoad?(runId: number): void | Promise<void>;
}

export interface RunOptions {
  pipeline?: string;
  chunkSize?: number;
  /**
   * The most rows a run moves through Node (keyset chunks, zod on every row). A larger window is
   * aggregated in SQL, and zod sees only the rows a SQL predicate flags.
   */
  perRowLimit?: number;
  /** Wait for a run in progress (default) or return at once with status 'skipped'. */
  wait?: boolean;
  /** The clock that decides which days lie in the future. */
  now?: Date;
  hooks?: PipelineHooks;
}

export type RunResult =
  | { status: 'succeeded'; runId: number; rowsRead: number; rowsWritten: number; windows: readonly NodeWindow[] }
  | { status: 'failed'; runId: number; rowsRead: number; quarantined: number }
  | { status: 'skipped'; reason: 'busy' | 'up to date' };

function lockKey(pipeline: string) {
  return sql`hashtextextended(${`etl:${pipeline}`}, 0)`;
}

/**
 * Runs fn on one connection holding the pipeline's session lock, taken before any transaction
 * begins: a run's snapshot is then always taken after the previous run committed, so it reads
 * that run's watermark. Returns null when wait is false and another run holds the lock.
 */
export async function withPipelineLock<T>(db: Kysely<DB>, pipeline: string, wait: boolean, fn: (connection: Kysely<DB>) => Promise<T>): Promise<T | null> {
  return db.connection().execute(async (connection) => {
    if (wait) {
      await sql`select pg_advisory_lock(${lockKey(pipeline)})`.execute(connection);
    } else {
      const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_lock(${lockKey(pipeline)}) as locked`.execute(connection);
      if (!rows[0]!.locked) return null;
    }
    let done = false;
    try {
      const result = await fn(connection);
      done = true;
      return result;
    } finally {
      // After a failure the connection may be gone, and the server released the lock with it:
      // the failure is the error worth reporting.
      await sql`select pg_advisory_unlock(${lockKey(pipeline)})`.execute(connection).catch((error: unknown) => {
        if (done) throw error;
      });
    }
  });
}

/** Whether a run or backfill of the pipeline holds its lock right now (on any instance). */
export async function pipelineBusy(db: Kysely<DB>, pipeline = PIPELINE): Promise<boolean> {
  const { rows } = await sql<{ busy: boolean }>`
    select exists (select 1 from pg_locks where locktype = 'advisory' and granted and database = (select oid from pg_database where datname = current_database())
      and objsubid = 1 and ((classid::bigint << 32) | objid::bigint) = ${lockKey(pipeline)}) as busy`.execute(db);
  return rows[0]!.busy;
}

interface ExtractedCommon {
  rejected: Rejection[];
  checksums: ChecksumTally;
  rowsRead: number;
}

/** A window read row by row into a rollup, or counted in SQL (its user days not staged yet). */
type Extracted = ExtractedCommon & ({ path: 'per-row'; rollup: DailyRollup } | { path: 'set-based'; counts: MetricDelta[] });

async function extractPerRow(trx: Kysely<DB>, scope: ExtractScope, validator: SourceRowValidator, chunkSize: number): Promise<Extracted> {
  const extracted = { path: 'per-row' as const, rollup: new DailyRollup(), rejected: [] as Rejection[], checksums: new ChecksumTally(), rowsRead: 0 };
  for (const source of sources) {
    for await (const chunk of extractChunks(trx, source, scope, chunkSize)) {
      extracted.rowsRead += chunk.length;
      const { valid, rejected } = validator.check(chunk);
      extracted.rollup.add(valid);
      extracted.checksums.add(valid);
      extracted.rejected.push(...rejected);
    }
  }
  return extracted;
}

async function extractSetBased(trx: Kysely<DB>, scope: ExtractScope, bounds: DayBounds): Promise<Extracted> {
  const counts = await countWindow(trx, windowRows(scope), suspectRow(bounds));
  const checksums = ChecksumTally.fromStats(counts.clean);
  let rejected: Rejection[] = [];
  if (counts.suspects > 0) {
    const checked = new SourceRowValidator(bounds).check(await suspectRows(trx, scope, suspectRow(bounds)));
    checksums.add(checked.valid);
    rejected = checked.rejected;
  }
  return { path: 'set-based', counts: counts.metrics, rejected, checksums, rowsRead: counts.rowsRead };
}

async function extractValidated(trx: Kysely<DB>, scope: ExtractScope, options: RunOptions): Promise<Extracted> {
  const bounds = dayBounds(options.now ?? new Date());
  const limit = Math.min(options.perRowLimit ?? DEFAULT_PER_ROW_LIMIT, Number.MAX_SAFE_INTEGER - 1);
  if (await windowSizeUpTo(trx, scope, limit + 1) > limit) return extractSetBased(trx, scope, bounds);
  return extractPerRow(trx, scope, new SourceRowValidator(bounds), options.chunkSize ?? DEFAULT_CHUNK_SIZE);
}

/** The run's output; new_users changes only for an incremental run (a backfill recounts them). */
async function transform(trx: Kysely<DB>, extracted: Extracted, scope: ExtractScope, newUsers: boolean): Promise<RunOutput> {
  if (extracted.path === 'per-row') {
    return extracted.rollup.finish(newUsers ? await loadedFirstDays(trx, extracted.rollup.users()) : undefined);
  }
  await stageUserDays(trx, windowRows(scope));
  const metrics = [...extracted.counts];
  if (newUsers) {
    const firstDays = await stagedFirstDays(trx, { citus: await hasCitus(trx) });
    metrics.push(...newUserDeltas(firstDays.batch, firstDays.loaded));
  }
  return { metrics, activeUserDays: 'staged' };
}

async function validate(trx: Kysely<DB>, output: RunOutput, scope: ExtractScope): Promise<void> {
  const { metrics, activeUserDays } = output;
  if (activeUserDays === 'staged') {
    validateOutput({ metrics, activeUserDays: [] });
    reconcileCounts(metrics, await checkStagedUserDays(trx), await sourceTotals(trx, scope));
  } else {
    validateOutput({ metrics, activeUserDays });
    reconcile({ metrics, activeUserDays }, await sourceTotals(trx, scope));
  }
}

async function loadUserDays(trx: Kysely<DB>, runId: number, output: RunOutput): Promise<number> {
  return output.activeUserDays === 'staged' ? insertStagedUserDays(trx, runId) : insertActiveUserDays(trx, runId, output.activeUserDays);
}

function runRecord(base: Pick<RunRecord, 'pipeline' | 'mode' | 'windows' | 'startedAt'>, extracted: Extracted, status: RunRecord['status'], error?: string, days?: { from: string; to: string }): RunRecord {
  return {
    ...base,
    status,
    error,
    rowsRead: extracted.rowsRead,
    checksums: {
      user_activity: extracted.checksums.of('user_activity'),
      event: extracted.checksums.of('event'),
      quarantined: extracted.rejected.length,
      ...(days ? { days } : {}),
    },
  };
}

/** Refused rows are kept with their reason and the run is failed, so no partial truth is loaded. */
async function refuse(trx: Kysely<DB>, record: RunRecord, rejected: Rejection[]): Promise<RunResult> {
  const runId = await insertRun(trx, record);
  const quarantined = await quarantineRows(trx, runId, rejected);
  return { status: 'failed', runId, rowsRead: record.rowsRead, quarantined };
}

interface Attempt {
  windows: readonly NodeWindow[];
  rowsRead: number;
}

type Mode = RunRecord['mode'];

/** What sets an incremental run apart from a backfill batch; the stages are the same sequence. */
type RunKind = { mode: 'incremental'; horizon: NodeXids } | { mode: 'backfill'; days: { from: string; to: string } };

/** The rows a run reads, from the watermark as its snapshot sees it. */
function scopeOf(kind: RunKind, watermark: NodeXids): ExtractScope {
  if (kind.mode === 'incremental') return { windows: windowsTo(watermark, kind.horizon) };
  // A backfill rebuilds its days from every row the incremental runs have counted so far. Rows at
  // or above a node's watermark are the next incremental run's: counting them here would count
  // them twice. A node without one has had nothing counted yet.
  const windows = [...watermark].sort(([a], [b]) => a - b).map(([node, xid]) => ({ node, xidFrom: '0', xidTo: xid }));
  return { windows, days: kind.days };
}

/**
 * Extract, validate, transform, validate again and load, in the caller's transaction. An
 * incremental run adds to the metrics (new_users from the first days already loaded) and has nothing
 * to do on an empty window; a backfill batch clears its days, reloads them and recounts new_users.
 */
async function runStages(trx: Transaction<DB>, pipeline: string, kind: RunKind, options: RunOptions, attempt: Attempt): Promise<RunResult> {
  const hooks = options.hooks ?? {};
  const incremental = kind.mode === 'incremental';
  const startedAt = new Date();
  const scope = scopeOf(kind, (await lastWatermark(trx, pipeline)).xids);
  attempt.windows = scope.windows;

  const extracted = await extractValidated(trx, scope, options);
  attempt.rowsRead = extracted.rowsRead;
  if (incremental) {
    await hooks.afterExtract?.(extracted.rowsRead);
    if (extracted.rowsRead === 0) return { status: 'skipped', reason: 'up to date' };
  }
  const base = { pipeline, mode: kind.mode, startedAt, windows: scope.windows };
  if (extracted.rejected.length) {
    return refuse(trx, runRecord(base, extracted, 'failed', `${extracted.rejected.length} source rows quarantined`, scope.days), extracted.rejected);
  }

  const output = await transform(trx, extracted, scope, incremental);
  await hooks.afterTransform?.(output);
  await validate(trx, output, scope);
  await hooks.afterValidate?.(output);

  const runId = await insertRun(trx, runRecord(base, extracted, 'succeeded', undefined, scope.days));
  const cleared = kind.mode === 'backfill' ? await clearDays(trx, kind.days.from, kind.days.to) : [];
  let rowsWritten = await addToMetrics(trx, runId, output.metrics) + await loadUserDays(trx, runId, output);
  const written = await loadedDaySpans(trx, output.activeUserDays);
  if (!incremental) {
    // Every user day of the batch came from a row that the batch's metrics count.
    const tenants = new Set([...cleared, ...output.metrics.map((metric) => metric.tenantId)]);
    rowsWritten += await recountNewUsers(trx, runId, [...tenants]);
  }
  // Derived from the user days, so not among the rows written that name the run; recounted after it.
  await markCountsStale(trx, incremental ? written : withClearedDays(written, cleared, kind.days.from, kind.days.to));
  await hooks.duringLoad?.(runId);
  await finishRun(trx, runId, rowsWritten);
  return { status: 'succeeded', runId, rowsRead: extracted.rowsRead, rowsWritten, windows: scope.windows };
}

/** Records a run that threw; its transaction rolled back, so the run changed nothing else. */
async function recordFailure(connection: Kysely<DB>, record: Omit<RunRecord, 'checksums' | 'status'>, error: unknown): Promise<void> {
  const none = { rows: 0, minId: 0, maxId: 0, idSum: '0' };
  await insertRun(connection, {
    ...record,
    status: 'failed',
    error: (error as Error)?.message ?? String(error),
    checksums: { user_activity: none, event: none, quarantined: 0 },
  });
}

/**
 * Runs one stage of work in a repeatable-read transaction under the pipeline lock; if it throws,
 * the transaction is rolled back and a failed etl_run records why and which window it attempted.
 */
async function lockedRun(database: Database, pipeline: string, mode: Mode, wait: boolean,
  work: (trx: Transaction<DB>, attempt: Attempt, horizon: NodeXids) => Promise<RunResult>): Promise<RunResult> {
  const result = await withPipelineLock(database.admin, pipeline, wait, async (connection) => {
    const attempt: Attempt = { windows: [], rowsRead: 0 };
    const startedAt = new Date();
    try {
      // Before the transaction begins: on a cluster each node's snapshot is taken when the run first
      // reaches that node, and it must come after that node's horizon to see every row below it.
      const horizon = mode === 'incremental' ? await commitHorizon(connection) : new Map<number, string>();
      return await connection.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
        // On a Citus cluster a transaction that read shards over parallel connections may not write
        // the etl_run reference table after ("there was a parallel operation on a distributed
        // table"): one connection per node, then. A single server keeps it as an unused setting.
        await sql`select set_config('citus.multi_shard_modify_mode', 'sequential', true)`.execute(trx);
        return work(trx, attempt, horizon);
      });
    } catch (error) {
      // A lost connection cannot record anything: the run then shows only as the absence of a success.
      await recordFailure(connection, { pipeline, mode, startedAt, ...attempt }, error).catch(() => undefined);
      throw error;
    }
  });
  return result ?? { status: 'skipped', reason: 'busy' };
}

/**
 * One incremental run: every row committed since the last succeeded run is extracted, validated,
 * rolled up and loaded, with the run's etl_run row, in a single repeatable-read transaction. A crash
 * anywhere before commit leaves the tables and the watermark as they were.
 */
export async function runPipeline(database: Database, options: RunOptions = {}): Promise<RunResult> {
  const pipeline = options.pipeline ?? PIPELINE;
  return lockedRun(database, pipeline, 'incremental', options.wait ?? true, (trx, attempt, horizon) => runStages(trx, pipeline, { mode: 'incremental', horizon }, options, attempt));
}

export interface BackfillOptions extends Omit<RunOptions, 'wait'> {
  from: string;
  to: string;
  daysPerBatch?: number;
  onProgress?(daysDone: number, daysTotal: number): void;
}

export interface BackfillResult {
  runIds: number[];
  days: number;
  rowsRead: number;
}

/**
 * Rebuilds metric and active_user_day for the days [from, to] from the raw rows, a batch of days
 * per transaction, under the pipeline lock. Use it after repairing source data or quarantined rows.
 */
export async function backfill(database: Database, options: BackfillOptions): Promise<BackfillResult> {
  const pipeline = options.pipeline ?? PIPELINE;
  const { from, to, daysPerBatch } = parseInput(backfillInput, { from: options.from, to: options.to, daysPerBatch: options.daysPerBatch });
  const total = daysBetween(from, to) + 1;
  const result: BackfillResult = { runIds: [], days: total, rowsRead: 0 };
  options.onProgress?.(0, total);
  for (let start = from; start <= to; start = addDays(start, daysPerBatch)) {
    const end = addDays(start, daysPerBatch - 1) < to ? addDays(start, daysPerBatch - 1) : to;
    const batch = await lockedRun(database, pipeline, 'backfill', true,
      (trx, attempt) => runStages(trx, pipeline, { mode: 'backfill', days: { from: start, to: end } }, options, attempt));
    if (batch.status === 'failed') {
      throw new StrataError('VALIDATION_FAILED', `backfill stopped at ${start}: ${batch.quarantined} source rows quarantined (run ${batch.runId})`);
    }
    if (batch.status === 'succeeded') {
      result.runIds.push(batch.runId);
      result.rowsRead += batch.rowsRead;
    }
    options.onProgress?.(daysBetween(from, end) + 1, total);
  }
  return result;
}

export interface PipelineStatus {
  pipeline: string;
  /** A run or backfill holds the lock now. */
  busy: boolean;
  /** Per node (0 on a single server): the xid below which every row has been counted. */
  watermark: Record<number, string>;
  lastSucceededAt: Date | null;
  /** Seconds since the last succeeded run finished: how stale the metrics may be. */
  lagSeconds: number | null;
  /** Committed rows the next run will read. */
  pending: { user_activity: number; event: number };
  failuresSinceLastSuccess: number;
  quarantined: number;
  runs: Array<{ id: number; mode: string; status: string; rowsRead: number; rowsWritten: number; startedAt: Date; finishedAt: Date | null; error: string | null }>;
}

export async function pipelineStatus(database: Database, options: { pipeline?: string; limit?: number } = {}): Promise<PipelineStatus> {
  const db = database.admin;
  const pipeline = options.pipeline ?? PIPELINE;
  const watermark = await lastWatermark(db, pipeline);
  const lastSuccess = watermark.runId === null ? undefined
    : await db.selectFrom('etl_run').select(['finished_at']).where('id', '=', watermark.runId).executeTakeFirst();
  const { rows: [counts] } = await sql<{ activities: number; events: number; failures: number; quarantined: number; now: Date }>`
    select
      (select count(*) from user_activity s where ${uncountedBy(watermark.xids)}
        and not exists (select 1 from etl_quarantine q where q.tenant_id = s.tenant_id and q.source = 'user_activity' and q.source_id = s.id)) as activities,
      (select count(*) from event s where ${uncountedBy(watermark.xids)}
        and not exists (select 1 from etl_quarantine q where q.tenant_id = s.tenant_id and q.source = 'event' and q.source_id = s.id)) as events,
      (select count(*) from etl_run where pipeline = ${pipeline} and status = 'failed' and id > ${watermark.runId ?? 0}) as failures,
      (select count(*) from etl_quarantine) as quarantined,
      clock_timestamp() as now`.execute(db);
  const runs = await db.selectFrom('etl_run')
    .select(['id', 'mode', 'status', 'rows_read', 'rows_written', 'started_at', 'finished_at', 'error'])
    .where('pipeline', '=', pipeline).orderBy('id', 'desc').limit(options.limit ?? 10).execute();
  const lastSucceededAt = lastSuccess?.finished_at ?? null;
  return {
    pipeline,
    busy: await pipelineBusy(db, pipeline),
    watermark: Object.fromEntries(watermark.xids),
    lastSucceededAt,
    lagSeconds: lastSucceededAt ? Math.max(0, Math.round((counts!.now.getTime() - lastSucceededAt.getTime()) / 1000)) : null,
    pending: { user_activity: counts!.activities, event: counts!.events },
    failuresSinceLastSuccess: counts!.failures,
    quarantined: counts!.quarantined,
    runs: runs.map((run) => ({
      id: run.id, mode: run.mode, status: run.status, rowsRead: run.rows_read, rowsWritten: run.rows_written,
      startedAt: run.started_at, finishedAt: run.finished_at, error: run.error,
    })),
  };
}
