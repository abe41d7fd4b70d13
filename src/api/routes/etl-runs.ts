import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { EtlRunRepository, etlRunStatuses, type EtlRunView } from '../../repositories/etl-run-repository.js';
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

const toApiRun = (run: EtlRunView) => ({
  id: run.id,
  mode: run.mode,
  status: run.status,
  startedAt: run.started_at,
  finishedAt: run.finished_at,
  durationMs: run.finished_at ? run.finished_at.getTime() - run.started_at.getTime() : null,
  rowsRead: run.rows_read,
  ...(run.rows_written === undefined ? {} : { rowsWritten: run.rows_written }),
  error: run.error,
  quarantined: { rows: run.quarantine_reasons.reduce((sum, reason) => sum + reason.rows, 0), reasons: run.quarantine_reasons },
});

/**
 * The analytics pipeline's run history, for the operations view and for following an answer's
 * `etlRunIds` to the runs that computed it. Runs are global (one run counts every tenant), a
 * tenant's numbers are as fresh as the last run that succeeded, and a run failed by any tenant's bad
 * row holds back everyone's: so a tenant key sees every run, but only its own part of each (its rows
 * read and quarantined, the error's class); the admin key sees the platform's totals and the errors.
 */
export async function etlRunRoutes(app: App, { database }: RouteOptions): Promise<void> {
  const tags = ['analytics'];
  const config = { access: 'tenant-or-admin' as const };
  /** fn on the caller's view: the tenant's transaction for a tenant key, the platform's for the admin key. */
  const asCaller = <T>(request: FastifyRequest, fn: (repository: EtlRunRepository) => Promise<T>): Promise<T> =>
    request.principal?.kind === 'admin'
      ? database.admin.transaction().execute((trx) => fn(EtlRunRepository.forPlatform(trx)))
      : request.inTenant((trx) => fn(EtlRunRepository.forTenant(trx)));

  app.get('/etl-runs', {
    config,
    schema: {
      tags,
      summary: 'The analytics pipeline\'s runs, newest first (keyset-paginated): status, times, the rows read of the caller\'s (a tenant key) or of all tenants with the rows written (the admin key), quarantined rows by reason, and how old the watermark is',
      querystring: runListQuery,
    },
  }, async (request) => {
    const { status, limit, cursor } = request.query;
    const beforeId = decodeCursor(cursor, idCursor);
    const { runs, freshness } = await asCaller(request, async (repository) => {
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
    config,
    schema: { tags, summary: 'One run of the analytics pipeline with the rows it quarantined and why: the caller\'s (a tenant key) or every tenant\'s (the admin key)', params: idParams },
  }, async (request) => {
    const { run, quarantined } = await asCaller(request, async (repository) => {
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
