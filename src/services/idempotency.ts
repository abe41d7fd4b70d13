import { createHash } from 'node:crypto';
import type { Database } from '../db/database.js';
import type { Job } from '../db/jobs.js';
import type { TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import { IdempotencyKeyRepository } from '../repositories/idempotency-key-repository.js';

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
  const keys = new IdempotencyKeyRepository(trx);
  if (!await keys.claim(scope, key, requestHash)) {
    const stored = await keys.get(scope, key);
    if (stored.requestHash !== requestHash) throw new StrataError('IDEMPOTENCY_KEY_REUSED');
    return { statusCode: stored.statusCode ?? 200, body: stored.body as T, replayed: true };
  }
  const result = await run();
  await keys.saveResponse(scope, key, result.statusCode, result.body);
  return { ...result, replayed: false };
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
    const deleted = await IdempotencyKeyRepository.deleteExpired(database.admin, ttlHours, batch);
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
