import type { FastifyReply, FastifyRequest } from 'fastify';
import type { TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import { MAX_BATCH_ROWS } from '../models/common.js';
import { once } from '../services/idempotency.js';
import { admitIngest, departureOf, type IngestAdmission } from './admission.js';

export { MAX_BATCH_ROWS };

/**
 * Body limit of the ingest routes. A 10,000-row batch of typical activities is ~1.5 MB; this leaves
 * ~1.6 KB per row for metadata, while still bounding what one request can make the process hold.
 */
export const INGEST_BODY_LIMIT = 16 * 1024 * 1024;

/**
 * A preValidation hook: a batch over the row limit is refused as too large (413) before the schema
 * walks 10,000+ rows only to report that one number.
 */
export function refuseOversizedBatch(field: string) {
  return async (request: FastifyRequest) => {
    const rows = (request.body as Record<string, unknown> | null | undefined)?.[field];
    if (Array.isArray(rows) && rows.length > MAX_BATCH_ROWS) {
      throw new StrataError('PAYLOAD_TOO_LARGE', `a batch holds at most ${MAX_BATCH_ROWS.toLocaleString('en-US')} rows, got ${rows.length}`,
        [{ path: field, message: `at most ${MAX_BATCH_ROWS} rows` }]);
    }
  };
}

/**
 * What every ingest route shares: its body limit, admission (before the body is read) and the
 * row-count check.
 */
export function ingestRoute(admission: IngestAdmission, field: string) {
  return { bodyLimit: INGEST_BODY_LIMIT, preParsing: admitIngest(admission), preValidation: refuseOversizedBatch(field) };
}

/**
 * Runs an ingest in the caller's tenant transaction, at most once per Idempotency-Key: a retry of a
 * batch that committed gets the first response again (marked by `Idempotent-Replayed: true`). A
 * client that has gone before the commit gets nothing committed: it cannot know the outcome, and
 * its retry (same key or not) must not find a half-known batch stored.
 */
export async function ingestOnce<T>(
  request: FastifyRequest, reply: FastifyReply, scope: string, batch: unknown,
  run: (trx: TenantTx) => Promise<{ statusCode: number; body: T }>,
) {
  // Node joins a repeated header into one value ("a, b"), which the key's pattern then refuses.
  const key = request.headers['idempotency-key'] as string | undefined;
  // On the ingest pool, and rolled back rather than committed once the client has gone.
  const outcome = await request.inTenant((trx) => once(trx, scope, key, batch, () => run(trx)),
    { pool: 'ingest', signal: departureOf(request, reply) });
  if (outcome.replayed) void reply.header('idempotent-replayed', 'true');
  return reply.status(outcome.statusCode).send(outcome.body);
}
