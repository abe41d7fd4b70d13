import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { idempotencyPruningJob, once, pruneIdempotencyKeys } from '../../src/services/idempotency.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';

let database: TestDatabase;
let tenantId: number;

beforeAll(async () => {
  database = await migratedDatabase();
  tenantId = (await createTenant(database)).id;
});

/** `once` in its own transaction, with a run that answers 202 and counts its calls. */
async function call(scope: string, key: string | undefined, request: unknown, calls: { count: number }) {
  return withTenant(database, { tenantId }, (trx) => once(trx, scope, key, request, async () => {
    calls.count += 1;
    return { statusCode: 202, body: { n: calls.count } };
  }));
}

async function storedKeys(): Promise<string[]> {
  const { rows } = await sql<{ key: string }>`select scope || ':' || key as key from idempotency_key order by 1`.execute(database.admin);
  return rows.map((row) => row.key);
}

describe('once', () => {
  it('without a key runs every time and stores nothing', async () => {
    const calls = { count: 0 };
    expect(await call('s', undefined, { a: 1 }, calls)).toEqual({ statusCode: 202, body: { n: 1 }, replayed: false });
    expect(await call('s', undefined, { a: 1 }, calls)).toEqual({ statusCode: 202, body: { n: 2 }, replayed: false });
    expect(await storedKeys()).toEqual([]);
  });

  it('runs a keyed request once and replays its stored status and body, within its scope only', async () => {
    const calls = { count: 0 };
    expect(await call('s', 'k1', { a: 1 }, calls)).toEqual({ statusCode: 202, body: { n: 1 }, replayed: false });
    expect(await call('s', 'k1', { a: 1 }, calls)).toEqual({ statusCode: 202, body: { n: 1 }, replayed: true });
    expect(await call('other', 'k1', { a: 1 }, calls)).toEqual({ statusCode: 202, body: { n: 2 }, replayed: false });
    expect(calls.count).toBe(2);
  });

  it('refuses a key reused with another body with IDEMPOTENCY_KEY_REUSED, running nothing', async () => {
    const calls = { count: 0 };
    await call('s', 'k2', { a: 1 }, calls);
    await expect(call('s', 'k2', { a: 2 }, calls)).rejects.toMatchObject({ code: 'IDEMPOTENCY_KEY_REUSED' });
    expect(calls.count).toBe(1);
  });

  it('takes 1–200 visible ASCII characters and refuses any other key with VALIDATION_FAILED, storing nothing', async () => {
    const before = await storedKeys();
    const calls = { count: 0 };
    for (const key of ['', ' ', 'a b', 'x'.repeat(201), 'é', '\x7f', 'a\n']) {
      await expect(call('bad', key, {}, calls)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: 'Idempotency-Key must be 1–200 visible ASCII characters',
        details: [{ path: 'Idempotency-Key', message: 'invalid' }],
      });
    }
    expect([calls.count, await storedKeys()]).toEqual([0, before]);
    for (const key of ['!', '~', 'y'.repeat(200)]) expect((await call('good', key, {}, calls)).replayed).toBe(false);
    expect(calls.count).toBe(3);
  });
});

describe('idempotency key pruning', () => {
  it('forgets keys older than the TTL in batches of 10,000 by default', async () => {
    await sql`truncate idempotency_key`.execute(database.admin);
    await sql`insert into idempotency_key (tenant_id, scope, key, request_hash, created_at)
      select ${tenantId}, 'bulk', g::text, 'h', now() - interval '2 hours' from generate_series(1, 10001) g`.execute(database.admin);
    const measured = await database.queries.measure(() => pruneIdempotencyKeys(database, 1));
    expect([measured.result, measured.queries]).toEqual([10_001, 2]);
  });

  it('is a stately hourly job whose handler prunes with the configured TTL', async () => {
    const job = idempotencyPruningJob(database, 1);
    expect(job.queue).toMatchObject({ name: 'idempotency-keys', policy: 'stately' });
    expect(job.cron).toBe('23 * * * *');
    await sql`insert into idempotency_key (tenant_id, scope, key, request_hash, created_at)
      values (${tenantId}, 'job', 'old', 'h', now() - interval '2 hours'), (${tenantId}, 'job', 'new', 'h', now())`.execute(database.admin);
    expect(await job.handler()).toBe(1);
    expect(await storedKeys()).toEqual(['job:new']);
  });
});
