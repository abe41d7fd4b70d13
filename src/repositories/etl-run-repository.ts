import { sql, type Kysely, type Selectable } from 'kysely';
import type { DB, EtlRun } from '../db/schema.generated.js';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';

export const etlRunStatuses = ['running', 'succeeded', 'failed'] as const;
export type EtlRunStatus = (typeof etlRunStatuses)[number];

export interface EtlRunListOptions {
  status?: EtlRunStatus;
  beforeId?: number;
  limit: number;
}

const runColumns = ['id', 'pipeline', 'mode', 'status', 'rows_read', 'rows_written', 'error', 'checksums', 'started_at', 'finished_at'] as const;

type RunRow = Pick<Selectable<EtlRun>, (typeof runColumns)[number]>;

/** One node's transactions [xidFrom, xidTo) that a run read, and the days a backfill narrowed them to (etl_run.checksums). */
interface RunScope {
  windows?: { node: number; xidFrom: string; xidTo: string }[];
  days?: { from: string; to: string };
  quarantined?: number;
}

/** A run with what the caller may see of it: its own figures for a tenant, the platform's for the admin key. */
export interface EtlRunView {
  id: number;
  mode: string;
  status: string;
  rows_read: number;
  /** Absent for a tenant: see rowsWritten in the contract. */
  rows_written?: number;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  quarantine_reasons: { reason: string; rows: number }[];
}

/**
 * A failed run's error as a tenant sees it: its class, never its text, which can quote any tenant's
 * row (a constraint's message names the key values) or count every tenant's rows.
 */
export function tenantSafeError(run: { status: string; error: string | null; checksums: unknown }, ownQuarantined: number): string | null {
  if (run.status !== 'failed' && run.error === null) return null;
  if (ownQuarantined > 0) return 'QUARANTINE: the run refused source rows of yours: see the quarantined rows';
  if (((run.checksums ?? {}) as RunScope).quarantined) return 'QUARANTINE: the run refused source rows, none of them yours';
  return 'INTERNAL: the run failed and loaded nothing; the platform operators have the details';
}

/**
 * The pipeline's runs as a tenant sees them, or as the platform does (the admin key). A run is
 * global (etl_run is a reference table: one run counts every tenant's window in one transaction),
 * so every tenant sees every run of the pipeline, which is what its analytics' freshness hangs on;
 * but a tenant sees only its own part of each: the rows it read of the caller's, counted again under
 * the tenant's policy from the windows the run recorded, the caller's quarantined rows, and the
 * error's class instead of its text. The quarantine and the source rows are read by separate
 * queries rather than joined: on Citus a reference table correlated with a distributed one is
 * refused, while `tenant_id = … and etl_run_id = any(…)` stays on the tenant's shard.
 */
export class EtlRunRepository {
  private constructor(private readonly db: Kysely<DB>, private readonly tenantId: number | null) {}

  /** The caller's view, in its tenant-scoped transaction. */
  static forTenant(trx: TenantTx): EtlRunRepository {
    return new EtlRunRepository(trx, tenantOf(trx));
  }

  /** The platform's view: every tenant's totals and the errors as raised (the admin key). */
  static forPlatform(db: Kysely<DB>): EtlRunRepository {
    return new EtlRunRepository(db, null);
  }

  /** A page of the pipeline's runs, newest first, each with the caller's quarantined rows counted by reason. */
  async list(pipeline: string, { status, beforeId, limit }: EtlRunListOptions): Promise<EtlRunView[]> {
    let query = this.db.selectFrom('etl_run').select(runColumns).where('pipeline', '=', pipeline);
    if (status !== undefined) query = query.where('status', '=', status);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    return this.views(await query.orderBy('id', 'desc').limit(limit).execute());
  }

  async get(pipeline: string, id: number): Promise<EtlRunView> {
    const run = await this.db.selectFrom('etl_run').select(runColumns).where('pipeline', '=', pipeline).where('id', '=', id)
      .executeTakeFirst();
    if (!run) throw new StrataError('NOT_FOUND', `etl run ${id} does not exist`);
    const [view] = await this.views([run]);
    return view!;
  }

  /** The tenant's rows a run refused, in the order it refused them. */
  async quarantinedRows(runId: number, limit: number) {
    let query = this.db.selectFrom('etl_quarantine').select(['source', 'source_id', 'reason', 'row_data', 'created_at'])
      .where('etl_run_id', '=', runId);
    if (this.tenantId !== null) query = query.where('tenant_id', '=', this.tenantId);
    return query.orderBy('id').limit(limit).execute();
  }

  /**
   * How stale the pipeline's numbers may be: the last succeeded incremental run (the one that moved
   * the watermark last), seconds since it finished by the database's clock, and the runs that
   * failed after it.
   */
  async freshness(pipeline: string) {
    const { rows: [row] } = await sql<{ run_id: number | null; finished_at: Date | null; lag_seconds: number | null; failures: number }>`
      with last as (
        select id, finished_at from etl_run
        where pipeline = ${pipeline} and status = 'succeeded' and mode = 'incremental'
        order by id desc limit 1
      )
      select (select id from last) as run_id, (select finished_at from last) as finished_at,
        (select greatest(0, floor(extract(epoch from clock_timestamp() - finished_at)))::int from last) as lag_seconds,
        (select count(*)::int from etl_run where pipeline = ${pipeline} and status = 'failed'
          and id > coalesce((select id from last), 0)) as failures`.execute(this.db);
    return row!;
  }

  private async quarantineReasons(runIds: number[]) {
    const byRun = new Map<number, { reason: string; rows: number }[]>();
    if (runIds.length === 0) return byRun;
    let query = this.db.selectFrom('etl_quarantine')
      .select(['etl_run_id', 'reason', (eb) => eb.fn.countAll<number>().as('rows')])
      .where('etl_run_id', 'in', runIds);
    if (this.tenantId !== null) query = query.where('tenant_id', '=', this.tenantId);
    const rows = await query.groupBy(['etl_run_id', 'reason']).orderBy('etl_run_id').orderBy('rows', 'desc').orderBy('reason').execute();
    for (const row of rows) {
      byRun.set(row.etl_run_id, [...(byRun.get(row.etl_run_id) ?? []), { reason: row.reason, rows: Number(row.rows) }]);
    }
    return byRun;
  }

  /** The runs as the caller may see them: two more queries for any number of runs. */
  private async views(runs: RunRow[]): Promise<EtlRunView[]> {
    const reasons = await this.quarantineReasons(runs.map((run) => run.id));
    const read = this.tenantId === null ? null : await this.ownRowsRead(this.tenantId, runs);
    return runs.map((run) => {
      const { id, mode, status, started_at, finished_at } = run;
      const own = reasons.get(id) ?? [];
      const common = { id, mode, status, started_at, finished_at, quarantine_reasons: own };
      if (read === null) return { ...common, rows_read: run.rows_read, rows_written: run.rows_written, error: run.error };
      const quarantined = own.reduce((sum, reason) => sum + reason.rows, 0);
      return { ...common, rows_read: read.get(id) ?? 0, error: tenantSafeError(run, quarantined) };
    });
  }

  /**
   * The tenant's source rows in each run's windows (and a backfill's days), but those an earlier run
   * had quarantined, which no later run reads: what the run read of the tenant's, as long as none of
   * them was deleted since. One statement for the page: a row per window (a run has one window per
   * node, so its windows never overlap and their counts add up), each counted on the
   * (ingest_node, ingest_xid) index. Every predicate carries the tenant, so on Citus the whole
   * statement goes to the tenant's shard.
   */
  private async ownRowsRead(tenantId: number, runs: RunRow[]): Promise<Map<number, number>> {
    const read = new Map(runs.map((run) => [run.id, 0]));
    const windows = runs.flatMap((run) => {
      const scope = (run.checksums ?? {}) as RunScope;
      return (scope.windows ?? []).map((window) => sql`(${run.id}::bigint, ${window.node}::int, ${window.xidFrom}::xid8,
        ${window.xidTo}::xid8, ${scope.days?.from ?? null}::date, ${scope.days?.to ?? null}::date)`);
    });
    if (windows.length === 0) return read;
    const count = (table: 'user_activity' | 'event', at: 'created_at' | 'occurred_at') => {
      const time = sql.ref(`s.${at}`);
      return sql`(select count(*) from ${sql.table(table)} s where s.tenant_id = ${tenantId}
        and s.ingest_node = w.node and s.ingest_xid >= w.xid_from and s.ingest_xid < w.xid_to
        and (w.day_from is null or (${time} >= w.day_from::timestamp at time zone 'UTC'
          and ${time} < (w.day_to + 1)::timestamp at time zone 'UTC'))
        and not exists (select 1 from etl_quarantine q where q.tenant_id = ${tenantId} and q.tenant_id = s.tenant_id
          and q.source = ${table} and q.source_id = s.id and q.etl_run_id < w.run_id))`;
    };
    const { rows } = await sql<{ run_id: number; rows: string }>`
      select w.run_id, sum(${count('user_activity', 'created_at')} + ${count('event', 'occurred_at')}) as rows
      from (values ${sql.join(windows)}) as w (run_id, node, xid_from, xid_to, day_from, day_to)
      group by w.run_id`.execute(this.db);
    for (const row of rows) read.set(Number(row.run_id), Number(row.rows));
    return read;
  }
}
