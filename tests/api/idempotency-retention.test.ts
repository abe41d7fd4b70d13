import { sql } from 'kysely';
import type PgBoss from 'pg-boss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  IDEMPOTENCY_CRON, IDEMPOTENCY_QUEUE, idempotencyPruningJob, pruneIdempotencyKeys,
} from '../../src/services/idempotency.js';
import { startJobs } from '../../src/db/jobs.js';
import { testApi, type TestApi } from './helpers.js';
import { twoTenants, type ApiTenant } from './support/two-tenants.js';

let api: TestApi, a: ApiTenant, b: ApiTenant;
let userA: number;
let boss: PgBoss | undefined;

beforeAll(async () => {
  ({ api, a, b } = await twoTenants(testApi(), 'Keys'));
  userA = (await api.call('POST', '/v1/users', a.key, { email: 'ada@example.com', username: 'ada' })).json().data.id;
});

afterAll(async () => {
  await boss?.stop({ graceful: false, close: true, wait: true, timeout: 10_000 });
});

const post = (idempotencyKey: string) => api.call('POST', '/v1/activities', a.key,
  { activities: [{ userId: userA, type: 'login' }] }, { 'idempotency-key': idempotencyKey });

async function keys(): Promise<string[]> {
  const { rows } = await sql<{ key: string }>`select key from idempotency_key order by key`.execute(api.database.admin);
  return rows.map((row) => row.key);
}

/** Stored keys, `ageHours` old, for both tenants. */
async function storeKeys(prefix: string, count: number, ageHours: number): Promise<void> {
  await sql`
    insert into idempotency_key (tenant_id, scope, key, request_hash, status_code, response, created_at)
    select tenant, 'activities', ${prefix} || '-' || tenant || '-' || g, 'hash', 201, '"{}"', now() - make_interval(hours => ${ageHours})
    from unnest(${[a.id, b.id]}::bigint[]) tenant, generate_series(1, ${count}) g`.execute(api.database.admin);
}

describe('Idempotency-Key retention', () => {
  it('forgets every tenant\'s keys older than the TTL, in batches, and keeps the younger ones', async () => {
    await sql`truncate idempotency_key`.execute(api.database.admin);
    await storeKeys('old', 12, 25);
    await storeKeys('young', 3, 23);
    const measured = await api.database.queries.measure(() => pruneIdempotencyKeys(api.database, 24, { batch: 10 }));
    expect(measured.result).toBe(24);
    // 10 + 10 + 4: each batch its own statement, the short one ends the loop.
    expect(measured.queries).toBe(3);
    expect(await keys()).toEqual([a.id, b.id].flatMap((tenant) => [1, 2, 3].map((g) => `young-${tenant}-${g}`)).sort());
    expect(await pruneIdempotencyKeys(api.database, 24)).toBe(0);
  });

  it('answers a retry within the TTL from the stored response, and runs it again once the key is forgotten', async () => {
    const first = await post('retry-after-ttl');
    expect((await post('retry-after-ttl')).headers['idempotent-replayed']).toBe('true');
    await sql`update idempotency_key set created_at = now() - interval '25 hours' where key = 'retry-after-ttl'`.execute(api.database.admin);
    expect(await pruneIdempotencyKeys(api.database, 24)).toBe(1);
    const again = await post('retry-after-ttl');
    expect([first.statusCode, again.statusCode]).toEqual([201, 201]);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    const { rows } = await sql<{ rows: number }>`select count(*)::int as rows from user_activity where tenant_id = ${a.id}`.execute(api.database.admin);
    expect(rows[0]!.rows).toBe(2);
  });

  it('runs hourly on pg-boss: a job sent to the queue prunes', async () => {
    boss = await startJobs(api.database, [idempotencyPruningJob(api.database, 24)], { pollingIntervalSeconds: 0.5 });
    expect((await boss.getSchedules()).map((schedule) => [schedule.name, schedule.cron, schedule.options?.tz]))
      .toContainEqual([IDEMPOTENCY_QUEUE, IDEMPOTENCY_CRON, 'UTC']);
    await storeKeys('scheduled', 2, 48);
    await boss.send(IDEMPOTENCY_QUEUE, {});
    const deadline = Date.now() + 30_000;
    while ((await keys()).some((key) => key.startsWith('scheduled')) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect((await keys()).filter((key) => key.startsWith('scheduled'))).toEqual([]);
  });
});
