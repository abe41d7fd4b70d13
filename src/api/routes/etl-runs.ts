import { z } from 'zod';
import { EtlRunRepository, etlRunStatuses } from '../../repositories/etl-run-repository.js';
import { PIPELINE } from '../../repositories/pipeline-watermark.js';
import { decodeCursor, idCursor, idParams, page, pageQuery } from '../http.js';
import type { App, RouteOptions } from '../types.js';

const runListQuery = z.strictObject({ status: z.enum(etlRunStatuses).optional(), ...pageQuery });

/** The most quarantined rows a run's detail lists; `quarantined.rows` still counts them all. */
const QUARANTINED_ROWS_SHOWN = 100;

/** The refused row as the pipeline kept it, without what the API never shows (its tenant, the writing transaction). */
function shownRow(data: unknown) {
  const { tenantId: _tenant, xid: _xid, ...shown } = (data ?? {}) as Record<string, unknown>;
  return shown;
}

interface RunRow {
  id: number;
  mode: string;
  status: string;
  rows_read: number;
  rows_written: number;
  error: string | null;
  started_at: Date;
  finished_at: Date | null;
  quarantine_reasons: { reason: string; rows: number }[];
}

const toApiRun = (run: RunRow) => ({
  id: run.id,
  mode: run.mode,
  status: run.status,
  startedAt: run.started_at,
  finishedAt: run.finished_at,
  durationMs: run.finished_at ? run.finished_at.getTime() - run.started_at.getTime() : null,
  rowsRead: run.rows_read,
  rowsWritten: run.rows_written,
  error: run.error,
  quarantined: { rows: run.quarantine_reasons.reduce((sum, reason) => sum + reason.rows, 0), reasons: run.quarantine_reasons },
});

/**
 * The analytics pipeline's run history, for the operations view and for following an answer's
 * `etlRunIds` to the runs that computed it. A tenant key, not the admin key: runs are global (one
 * run counts every tenant), a tenant's numbers are as fresh as the last run that succeeded, and a
 * run failed by any tenant's bad row holds back everyone's; the quarantined rows are the caller's own.
 */
export async function etlRunRoutes(app: App, _options: RouteOptions): Promise<void> {
  const tags = ['analytics'];

  app.get('/etl-runs', {
    schema: {
      tags,
      summary: 'The analytics pipeline\'s runs, newest first (keyset-paginated): status, times, rows read and written (all tenants), the caller\'s quarantined rows by reason, and how old the watermark is',
      querystring: runListQuery,
    },
  }, async (request) => {
    const { status, limit, cursor } = request.query;
    const beforeId = decodeCursor(cursor, idCursor);
    const { runs, freshness } = await request.inTenant(async (trx) => {
      const repository = new EtlRunRepository(trx);
      return { runs: await repository.list(PIPELINE, { status, beforeId, limit }), freshness: await repository.freshness(PIPELINE) };
    });
    return {
      ...page(runs, limit, (run) => run.id, toApiRun),
      pipeline: {
        name: PIPELINE,
        lastSucceededRunId: freshness.run_id,
        lastSucceededAt: freshness.finished_at,
        lagSeconds: freshness.lag_seconds,
        failuresSinceLastSuccess: freshness.failures,
      },
    };
  });

  app.get('/etl-runs/:id', {
    schema: { tags, summary: 'One run of the analytics pipeline with the caller\'s rows it quarantined and why', params: idParams },
  }, async (request) => {
    const { run, quarantined } = await request.inTenant(async (trx) => {
      const repository = new EtlRunRepository(trx);
      const found = await repository.get(PIPELINE, request.params.id);
      return { run: found, quarantined: await repository.quarantinedRows(found.id, QUARANTINED_ROWS_SHOWN) };
    });
    return {
      data: {
        ...toApiRun(run),
        quarantinedRows: quarantined.map((row) => ({
          source: row.source, sourceId: row.source_id, reason: row.reason, row: shownRow(row.row_data), createdAt: row.created_at,
        })),
      },
    };
  });
}
