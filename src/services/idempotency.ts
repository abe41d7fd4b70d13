import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Database } from '../db/database.js';
import type { Job } from '../db/jobs.js';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';

export interface StoredResponse<T> {
  statusCode: number;
  body: T;
  /** True when the response is the one stored by an earlier request with the same key. */
  replayed: boolean;
}

const KEY_PATTERN = /^[\x21-\x7e]{1,200}$/;

/**
 * Applies `run` at most once per (tenant, scope, key), inside the caller's transaction. The key row
 * is inserted first: a concurrent retry blocks on it until the first commits (then replays its
 * response) or rolls back (then runs itself). A key reused with a different body is refused.
 */
export async function once<T>(
  trx: TenantTx, scope: string, key: string | undefined, request: unknown,
  run: () => Promise<{ statusCode: number; body: T }>,
): Promise<StoredResponse<T>> {
  if (key === undefined) return { ...(await run()), replayed: false };
  if (!KEY_PATTERN.test(key)) {
    throw new StrataError('VALIDATION_FAILED', 'Idempotency-Key must be 1–200 visible ASCII characters',
      [{ path: 'Idempotency-Key', message: 'invalid' }]);
  }
  const requestHash = createHash('sha256').update(JSON.stringify(request)).digest('hex');
  const tenantId = tenantOf(trx);
  const claimed = await trx.insertInto('idempotency_key')
    .values({ tenant_id: tenantId, scope, key, request_hash: requestHash })
    .onConflict((oc) => oc.columns(['tenant_id', 'scope', 'key']).doNothing())
    .returning('key').executeTakeFirst();
  if (!claimed) {
    const stored = await trx.selectFrom('idempotency_key').select(['request_hash', 'status_code', 'response'])
      .where('tenant_id', '=', tenantId).where('scope', '=', scope).where('key', '=', key).executeTakeFirstOrThrow();
    if (stored.request_hash !== requestHash) throw new StrataError('IDEMPOTENCY_KEY_REUSED');
    return { statusCode: stored.status_code ?? 200, body: storedBody<T>(stored.response), replayed: true };
  }
  const result = await run();
  await trx.updateTable('idempotency_key')
    // As a JSON string inside jsonb: jsonb reorders object keys, and a replay should be the same bytes.
    .set({ status_code: result.statusCode, response: JSON.stringify(JSON.stringify(result.body)) })
    .where('tenant_id', '=', tenantId).where('scope', '=', scope).where('key', '=', key).execute();
  return { ...result, replayed: false };
}

function storedBody<T>(response: unknown): T {
  return JSON.parse(response as string) as T;
}

export const IDEMPOTENCY_QUEUE = 'idempotency-keys';
/** Hourly, at a minute no other job uses. */
export const IDEMPOTENCY_CRON = '23 * * * *';
const PRUNE_BATCH = 10_000;

/**
 * Forgets keys older than `ttlHours` (every tenant), so the table holds about a day of requests,
 * not all of them: a retry after that runs as a new request. Deletes in batches, each its own
 * statement, so no single transaction holds many row locks. Returns how many keys it forgot.
 */
export async function pruneIdempotencyKeys(database: Database, ttlHours: number, options: { batch?: number } = {}): Promise<number> {
  const batch = options.batch ?? PRUNE_BATCH;
  let forgotten = 0;
  for (;;) {
    const result = await sql`
      delete from idempotency_key where (tenant_id, scope, key) in (
        select tenant_id, scope, key from idempotency_key
        where created_at < now() - make_interval(hours => ${ttlHours}) limit ${batch})`.execute(database.admin);
    const deleted = Number(result.numAffectedRows ?? 0n);
    forgotten += deleted;
    if (deleted < batch) return forgotten;
  }
}

/** pruneIdempotencyKeys hourly, once per tick across instances. */
export function idempotencyPruningJob(database: Database, ttlHours: number): Job {
  return {
    queue: { name: IDEMPOTENCY_QUEUE, policy: 'stately', retryLimit: 3, retryDelay: 300, expireInSeconds: 1800 },
    cron: IDEMPOTENCY_CRON,
    handler: () => pruneIdempotencyKeys(database, ttlHours),
  };
}
