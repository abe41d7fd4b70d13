import { sql } from 'kysely';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';

export const etlRunStatuses = ['running', 'succeeded', 'failed'] as const;
export type EtlRunStatus = (typeof etlRunStatuses)[number];

export interface EtlRunListOptions {
  status?: EtlRunStatus;
  beforeId?: number;
  limit: number;
}

const runColumns = ['id', 'pipeline', 'mode', 'status', 'rows_read', 'rows_written', 'error', 'started_at', 'finished_at'] as const;

/**
 * The pipeline's runs as a tenant sees them. A run is global (etl_run is a reference table: one run
 * counts every tenant's window in one transaction), so every tenant sees every run of the pipeline,
 * which is what its analytics' freshness hangs on; the quarantined rows are the tenant's own, read
 * under its policy. The quarantine is read by a second query rather than joined: on Citus a
 * reference table correlated with a distributed one is refused, while `tenant_id = … and
 * etl_run_id = any(…)` stays on the tenant's shard.
 */
export class EtlRunRepository {
  private readonly tenantId: number;

  constructor(private readonly trx: TenantTx) {
    this.tenantId = tenantOf(trx);
  }

  /** A page of the pipeline's runs, newest first, each with the tenant's quarantined rows counted by reason. */
  async list(pipeline: string, { status, beforeId, limit }: EtlRunListOptions) {
    let query = this.trx.selectFrom('etl_run').select(runColumns).where('pipeline', '=', pipeline);
    if (status !== undefined) query = query.where('status', '=', status);
    if (beforeId !== undefined) query = query.where('id', '<', beforeId);
    const runs = await query.orderBy('id', 'desc').limit(limit).execute();
    const reasons = await this.quarantineReasons(runs.map((run) => run.id));
    return runs.map((run) => ({ ...run, quarantine_reasons: reasons.get(run.id) ?? [] }));
  }

  async get(pipeline: string, id: number) {
    const run = await this.trx.selectFrom('etl_run').select(runColumns).where('pipeline', '=', pipeline).where('id', '=', id)
      .executeTakeFirst();
    if (!run) throw new StrataError('NOT_FOUND', `etl run ${id} does not exist`);
    const reasons = await this.quarantineReasons([id]);
    return { ...run, quarantine_reasons: reasons.get(id) ?? [] };
  }

  /** The tenant's rows a run refused, in the order it refused them. */
  async quarantinedRows(runId: number, limit: number) {
    return this.trx.selectFrom('etl_quarantine')
      .select(['source', 'source_id', 'reason', 'row_data', 'created_at'])
      .where('tenant_id', '=', this.tenantId).where('etl_run_id', '=', runId)
      .orderBy('id').limit(limit).execute();
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
          and id > coalesce((select id from last), 0)) as failures`.execute(this.trx);
    return row!;
  }

  private async quarantineReasons(runIds: number[]) {
    const byRun = new Map<number, { reason: string; rows: number }[]>();
    if (runIds.length === 0) return byRun;
    const rows = await this.trx.selectFrom('etl_quarantine')
      .select(['etl_run_id', 'reason', (eb) => eb.fn.countAll<number>().as('rows')])
      .where('tenant_id', '=', this.tenantId).where('etl_run_id', 'in', runIds)
      .groupBy(['etl_run_id', 'reason']).orderBy('etl_run_id').orderBy('rows', 'desc').orderBy('reason').execute();
    for (const row of rows) {
      byRun.set(row.etl_run_id, [...(byRun.get(row.etl_run_id) ?? []), { reason: row.reason, rows: Number(row.rows) }]);
    }
    return byRun;
  }
}
