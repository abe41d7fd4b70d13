import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import type { ActivityInput } from '../../src/models/activity.js';
import { ActivityRepository, COPY_THRESHOLD } from '../../src/repositories/activity-repository.js';
import { migratedDatabase, type TestDatabase, onCitus, constraintNamed } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { recordStatements } from './plan-helpers.js';
import { activityBatchOf, recentActivityOptions } from '../../src/models/activity.js';
import { refusal } from '../helpers/refusal.js';

let database: TestDatabase;
let statements: ReturnType<typeof recordStatements>;

beforeAll(async () => {
  database = await migratedDatabase();
  statements = recordStatements(database.pool);
});

function asTenant<T>(tenantId: number, fn: (activities: ActivityRepository) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new ActivityRepository(trx)));
}

async function countActivities(tenantId: number): Promise<number> {
  const row = await database.admin.selectFrom('user_activity').where('tenant_id', '=', tenantId)
    .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return row.n;
}

async function tenantWithUsers(count = 1) {
  const tenant = await createTenant(database);
  const users = [];
  for (let index = 0; index < count; index += 1) users.push(await createUser(database, tenant.id));
  return { tenant, users };
}

const awkwardMetadata = {
  ip_address: '192.168.1.1',
  user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
  session_id: 'abc123',
  nested: { key: 'value', deeper: { list: [1, 'two', { three: 3 }], empty: {}, none: null, yes: true } },
  unicode: 'Zoë · 東京 · مرحبا · 👩‍💻',
  escapes: 'tab\there, newline\nthere, back\\slash, "quotes", \\N, \r',
  numbers: { zero: 0, negative: -17, fraction: 0.1, large: 9_007_199_254_740_991, tiny: 1.5e-10, exponent: 1e15 },
};

describe('UserActivity schema', () => {
  it('enforces tenant isolation: an activity is seen by its own tenant and by no other', async () => {
    const { tenant: a, users: [user] } = await tenantWithUsers();
    const { tenant: b } = await tenantWithUsers();
    const activity = await asTenant(a.id, (activities) => activities.record({ user_id: user!.id, activity_type: 'login' }));
    expect(activity.tenant_id).toBe(a.id);
    expect(await asTenant(a.id, (activities) => activities.forTenant().execute())).toHaveLength(1);
    expect(await asTenant(b.id, (activities) => activities.forTenant().execute())).toEqual([]);
    const raw = await withTenant(database, { tenantId: b.id }, (trx) => sql<{ n: number }>`select count(*)::int as n from user_activity`.execute(trx));
    expect(raw.rows[0]!.n).toBe(0);
  });

  it('requires tenant_id: the column is NOT NULL, so even a path past the policies is refused', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    // As the owner, row-level security does not apply: only the NOT NULL constraint stands in the way.
    // On Citus a row without its distribution column is refused before it reaches a shard.
    await expect(sql`insert into user_activity (user_id, activity_type) values (${user!.id}, 'login')`.execute(database.admin))
      .rejects.toMatchObject(onCitus() ? { message: 'cannot perform an INSERT without a partition column value' } : { code: '23502', column: 'tenant_id' });
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into user_activity (user_id, activity_type) values (${user!.id}, 'login')`.execute(trx))).rejects.toBeInstanceOf(Error);
    expect(await countActivities(tenant.id)).toBe(0);
  });

  it('sets created_at from the database clock when none is given', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    const clock = async () => (await sql<{ now: string }>`select clock_timestamp()::text as now`.execute(database.admin)).rows[0]!.now;
    const before = await clock();
    const activity = await asTenant(tenant.id, (activities) => activities.record({ user_id: user!.id, activity_type: 'login' }));
    const after = await clock();
    const check = await sql<{ within: boolean }>`
      select created_at between ${before}::timestamptz and ${after}::timestamptz as within
      from user_activity where tenant_id = ${tenant.id} and id = ${activity.id}`.execute(database.admin);
    expect(check.rows).toEqual([{ within: true }]);
    expect(activity.created_at).toBeInstanceOf(Date);
  });

  it('keeps the time a late activity happened when the client reports it', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    const activity = await asTenant(tenant.id, (activities) => activities.record({
      user_id: user!.id, activity_type: 'login', created_at: '2020-02-29T23:59:59.123456+02:00',
    }));
    const stored = await sql<{ at: string }>`select created_at at time zone 'UTC' || '' as at from user_activity where id = ${activity.id}`
      .execute(database.admin);
    expect(stored.rows[0]!.at).toBe('2020-02-29 21:59:59.123456');
  });

  it('stores JSONB metadata and gives it back exactly: nested, unicode, escapes and numbers', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    const recorded = await asTenant(tenant.id, (activities) => activities.record({ user_id: user!.id, activity_type: 'login', metadata: awkwardMetadata }));
    const [read] = await asTenant(tenant.id, (activities) => activities.recentActivity({ limit: 1 }));
    expect(read!.metadata).toEqual(awkwardMetadata);
    expect(recorded.metadata).toEqual(awkwardMetadata);
    expect((read!.metadata as typeof awkwardMetadata).nested.key).toBe('value');
  });

  it('refuses, at the code edge, metadata jsonb cannot store and a malformed type, without sending a query', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    await asTenant(tenant.id, async (activities) => {
      for (const [input, path] of [
        [{ user_id: user!.id, activity_type: 'log in' }, 'activity_type'],
        [{ user_id: user!.id, activity_type: 'x', metadata: { nul: 'a\u0000b' } }, 'metadata'],
        [{ user_id: user!.id, activity_type: 'x', metadata: { when: new Date() } }, 'metadata'],
        [{ user_id: user!.id, activity_type: 'x', metadata: { n: Number.POSITIVE_INFINITY } }, 'metadata'],
        [{ user_id: user!.id, activity_type: 'x', metadata: ['not', 'an', 'object'] }, 'metadata'],
        [{ user_id: user!.id, activity_type: 'x', metadata: { lone: '\ud800' } }, 'metadata'],
        [{ user_id: user!.id, activity_type: 'x', metadata: JSON.parse(`${'{"a":'.repeat(33)}1${'}'.repeat(33)}`) as object }, 'metadata'],
        [{ user_id: user!.id, activity_type: 'x', created_at: '2024-01-01 10:00' }, 'created_at'],
        [{ user_id: user!.id, activity_type: 'x', created_at: '2026-02-30T10:00:00Z' }, 'created_at'],
        [{ user_id: user!.id, activity_type: 'x', created_at: '0000-01-01T00:00:00Z' }, 'created_at'],
      ] as const) {
        const measured = await database.queries.measure(() => Promise.resolve().then(() => activities.insertBatch(activityBatchOf([input as ActivityInput]))).catch((caught: unknown) => caught));
        expect(measured, path).toMatchObject({ queries: 0, result: { code: 'VALIDATION_FAILED', details: [{ path: `0.${path}` }] } });
      }
    });
    expect(await countActivities(tenant.id)).toBe(0);
  });

  it('refuses, as the HTTP edge does, a time before 2000 or more than a day ahead, Date or string, without sending a query', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    await asTenant(tenant.id, async (activities) => {
      for (const created_at of [new Date(Date.now() + 3 * 86_400_000), '1999-12-31T23:59:59Z', new Date('1970-01-01T00:00:00Z')]) {
        const measured = await database.queries.measure(() => Promise.resolve().then(() => activities.insertBatch(activityBatchOf([{ user_id: user!.id, activity_type: 'x', created_at }]))).catch((caught: unknown) => caught));
        expect(measured, String(created_at)).toMatchObject({ queries: 0, result: { code: 'VALIDATION_FAILED', details: [{ path: '0.created_at' }] } });
      }
      const measured = await database.queries.measure(() => Promise.resolve().then(() => activities.insertBatch(activityBatchOf([
        { user_id: user!.id, activity_type: 'x', created_at: new Date() },
        { user_id: user!.id, activity_type: 'x', created_at: new Date(Date.now() + 3 * 86_400_000) },
      ]))).catch((caught: unknown) => caught));
      expect(measured).toMatchObject({ queries: 0, result: { code: 'VALIDATION_FAILED', details: [{ path: '1.created_at' }] } });
    });
    expect(await countActivities(tenant.id)).toBe(0);
  });

  it('deletes a user\'s activities when the user is deleted, and only theirs', async () => {
    const { tenant, users: [leaving, staying] } = await tenantWithUsers(2);
    const activity = await asTenant(tenant.id, async (activities) => {
      await activities.record({ user_id: staying!.id, activity_type: 'login' });
      return activities.record({ user_id: leaving!.id, activity_type: 'login' });
    });
    await withTenant(database, { tenantId: tenant.id }, (trx) => trx.deleteFrom('app_user').where('id', '=', leaving!.id).execute());
    const left = await database.admin.selectFrom('user_activity').select(['id', 'user_id']).where('tenant_id', '=', tenant.id).execute();
    expect(left.map((row) => row.user_id)).toEqual([staying!.id]);
    expect(left.map((row) => row.id)).not.toContain(activity.id);
  });

  it('refuses an activity whose user belongs to another tenant (composite foreign key)', async () => {
    const { tenant: a } = await tenantWithUsers();
    const { users: [stranger] } = await tenantWithUsers();
    await expect(asTenant(a.id, (activities) => activities.record({ user_id: stranger!.id, activity_type: 'login' })))
      .rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION', details: [{ path: 'userId' }], cause: { constraint: constraintNamed('user_activity_tenant_id_user_id_fkey') } });
    await expect(withTenant(database, { tenantId: a.id }, (trx) => sql`
      insert into user_activity (tenant_id, user_id, activity_type) values (${a.id}, ${stranger!.id}, 'login')`.execute(trx)))
      .rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION' });
    expect(await countActivities(a.id)).toBe(0);
  });
});

describe('ActivityRepository reads', () => {
  it('loads each activity with its user in the same query (forTenant is the select_related)', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    await asTenant(tenant.id, async (activities) => {
      await activities.record({ user_id: user!.id, activity_type: 'login' });
      const { result, queries } = await database.queries.measure(() => activities.recentActivity({ limit: 50 }));
      expect(queries).toBe(1);
      expect(result).toEqual([expect.objectContaining({ user_id: user!.id, user: { id: user!.id, username: user!.username, email: user!.email } })]);
    });
  });

  it('returns the most recent activities first, for the tenant, a user or a type', async () => {
    const { tenant, users: [ada, bob] } = await tenantWithUsers(2);
    const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 12, minutes)).toISOString();
    await asTenant(tenant.id, (activities) => activities.insertBatch(activityBatchOf([
      { user_id: ada!.id, activity_type: 'login', created_at: at(1) },
      { user_id: bob!.id, activity_type: 'login', created_at: at(2) },
      { user_id: ada!.id, activity_type: 'view', created_at: at(3) },
      { user_id: bob!.id, activity_type: 'logout', created_at: at(4) },
    ])));
    await asTenant(tenant.id, async (activities) => {
      const minutes = (rows: { created_at: Date }[]) => rows.map((row) => row.created_at.getUTCMinutes());
      expect(minutes(await activities.recentActivity({ limit: 3 }))).toEqual([4, 3, 2]);
      expect(minutes(await activities.recentActivity({ userId: ada!.id, limit: 50 }))).toEqual([3, 1]);
      expect(minutes(await activities.recentActivity({ type: 'login', limit: 50 }))).toEqual([2, 1]);
      expect(refusal(recentActivityOptions, { limit: 0 })).toMatchObject({ code: 'VALIDATION_FAILED' });
    });
  });

  it('filters a list by user, type, time range and metadata containment', async () => {
    const { tenant, users: [ada, bob] } = await tenantWithUsers(2);
    const at = (day: number) => new Date(Date.UTC(2026, 2, day)).toISOString();
    await asTenant(tenant.id, (activities) => activities.insertBatch(activityBatchOf([
      { user_id: ada!.id, activity_type: 'purchase', created_at: at(1), metadata: { order: { id: 'o-1' }, total: 10 } },
      { user_id: bob!.id, activity_type: 'purchase', created_at: at(2), metadata: { order: { id: 'o-2' }, total: 20 } },
      { user_id: ada!.id, activity_type: 'view', created_at: at(3), metadata: { page: '/pricing' } },
      { user_id: ada!.id, activity_type: 'purchase', created_at: at(4), metadata: { order: { id: 'o-3' }, total: 10 } },
    ])));
    await asTenant(tenant.id, async (activities) => {
      const days = (rows: { created_at: Date }[]) => rows.map((row) => row.created_at.getUTCDate());
      expect(days(await activities.list({ userId: ada!.id, limit: 100 }))).toEqual([4, 3, 1]);
      expect(days(await activities.list({ type: 'purchase', userId: ada!.id, limit: 100 }))).toEqual([4, 1]);
      expect(days(await activities.list({ since: at(2), until: at(4), limit: 100 }))).toEqual([3, 2]);
      expect(days(await activities.list({ since: new Date(at(4)).toISOString(), limit: 100 }))).toEqual([4]);
      expect(days(await activities.list({ metadataContains: { total: 10 }, limit: 100 }))).toEqual([4, 1]);
      expect(days(await activities.list({ metadataContains: { order: { id: 'o-2' } }, limit: 100 }))).toEqual([2]);
      expect(await activities.list({ metadataContains: { order: { id: 'o-9' } }, limit: 100 })).toEqual([]);
    });
  });

  it('pages through activities that share one timestamp without skipping or repeating any', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    // One transaction: every row gets the same now().
    const recorded = await asTenant(tenant.id, async (activities) => {
      const rows = [];
      for (let index = 0; index < 7; index += 1) rows.push(await activities.record({ user_id: user!.id, activity_type: 'tick', metadata: { index } }));
      return rows;
    });
    expect(new Set(recorded.map((row) => row.created_at.getTime())).size).toBe(1);
    const seen: number[] = [];
    let afterId: number | undefined;
    for (let page = 0; page < 4; page += 1) {
      const rows = await asTenant(tenant.id, (activities) => activities.list({ limit: 3, afterId }));
      seen.push(...rows.map((row) => row.id));
      afterId = rows.at(-1)?.id;
    }
    expect(seen).toEqual(recorded.map((row) => row.id).reverse());
  });

  it('shows no other tenant\'s activities through any read, even when asked for its user or ids', async () => {
    const { tenant: a, users: [ada] } = await tenantWithUsers();
    const { tenant: b } = await tenantWithUsers();
    const activity = await asTenant(a.id, (activities) => activities.record({ user_id: ada!.id, activity_type: 'login', metadata: { k: 1 } }));
    await asTenant(b.id, async (activities) => {
      expect(await activities.recentActivity({ limit: 50 })).toEqual([]);
      expect(await activities.recentActivity({ userId: ada!.id, limit: 50 })).toEqual([]);
      expect(await activities.list({ userId: ada!.id, metadataContains: { k: 1 }, limit: 100 })).toEqual([]);
      expect(await activities.list({ afterId: activity.id + 1, limit: 100 })).toEqual([]);
    });
  });
});

function generatedActivities(count: number, userIds: number[]): ActivityInput[] {
  return Array.from({ length: count }, (_, index) => ({
    user_id: userIds[index % userIds.length]!,
    activity_type: ['login', 'view', 'purchase', 'search:query', 'a.b-c_d'][index % 5]!,
    metadata: index % 3 === 0 ? { index, ...awkwardMetadata } : { index, label: `row ${index}\t\\` },
    ...(index % 2 === 0 ? { created_at: new Date(Date.UTC(2026, 0, 1) + index * 60_000).toISOString() } : {}),
  }));
}

async function storedBatch(tenantId: number) {
  return sql<{ user_id: number; activity_type: string; metadata: { index: number }; epoch_ms: number; created_at_text: string }>`
    select user_id, activity_type, metadata, (extract(epoch from created_at) * 1000)::float8 as epoch_ms, created_at::text as created_at_text
    from user_activity where tenant_id = ${tenantId} order by (metadata ->> 'index')::int`.execute(database.admin);
}

describe('ActivityRepository.insertBatch', () => {
  it.each([
    // Citus refuses an INSERT … SELECT from coordinator rows under row-level security (it would
    // COPY them into the shards), so there every batch is an INSERT … VALUES.
    ...(onCitus()
      ? [['INSERT … VALUES, on Citus, however large', 10_000, /\bvalues \(/i], ['INSERT … VALUES, on Citus', COPY_THRESHOLD - 1, /\bvalues \(/i]] as const
      : [['COPY through a staging table', 10_000, /^copy /i], ['one INSERT … SELECT FROM unnest', COPY_THRESHOLD - 1, /unnest\(/i]] as const),
  ])('lands every activity with the right fields through %s (%i rows)', async (_path, count, marker) => {
    const { tenant, users } = await tenantWithUsers(5);
    const rows = generatedActivities(count, users.map((user) => user.id));
    let outcome: { result: unknown; now: string } | undefined;
    const captured = await statements.capture(async () => {
      outcome = await withTenant(database, { tenantId: tenant.id }, async (trx) => ({
        result: await new ActivityRepository(trx).insertBatch(activityBatchOf(rows)),
        now: (await sql<{ now: string }>`select now()::text as now`.execute(trx)).rows[0]!.now,
      }));
    });
    expect(outcome!.result).toEqual({ inserted: count });
    expect(captured.some((statement) => marker.test(statement.text.trim()))).toBe(true);
    const { rows: stored } = await storedBatch(tenant.id);
    expect(stored).toHaveLength(count);
    for (const [index, row] of stored.entries()) {
      const input = rows[index]!;
      expect(row.metadata.index).toBe(index);
      expect({ user_id: row.user_id, activity_type: row.activity_type, metadata: row.metadata })
        .toEqual({ user_id: input.user_id, activity_type: input.activity_type, metadata: input.metadata });
      // Given, the client's time; left out, the inserting transaction's clock.
      if (input.created_at) expect(row.epoch_ms).toBe(Date.parse(String(input.created_at)));
      else expect(row.created_at_text).toBe(outcome!.now);
    }
  });

  it.runIf(!onCitus())('switches from unnest to COPY at the measured crossover (single server)', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    // No metadata: the database default ('{}') is what both paths must store.
    const batch = (count: number) => Array.from({ length: count }, () => ({ user_id: user!.id, activity_type: 'tick' }));
    const below = await statements.capture(() => asTenant(tenant.id, (activities) => activities.insertBatch(activityBatchOf(batch(COPY_THRESHOLD - 1)))));
    const at = await statements.capture(() => asTenant(tenant.id, (activities) => activities.insertBatch(activityBatchOf(batch(COPY_THRESHOLD)))));
    expect(below.some((statement) => /^copy /i.test(statement.text))).toBe(false);
    expect(at.some((statement) => /^copy /i.test(statement.text.trim()))).toBe(true);
    expect(await countActivities(tenant.id)).toBe(2 * COPY_THRESHOLD - 1);
    const metadata = await sql<{ metadata: unknown }>`select distinct metadata from user_activity where tenant_id = ${tenant.id}`.execute(database.admin);
    expect(metadata.rows).toEqual([{ metadata: {} }]);
  });

  it.runIf(onCitus())('on Citus, sends a batch past the crossover as INSERT … VALUES, never COPY, under the tenant policy', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    const batch = Array.from({ length: COPY_THRESHOLD }, () => ({ user_id: user!.id, activity_type: 'tick' }));
    const sent = await statements.capture(() => asTenant(tenant.id, (activities) => activities.insertBatch(activityBatchOf(batch))));
    expect(sent.some((statement) => /^copy /i.test(statement.text.trim()))).toBe(false);
    expect(sent.some((statement) => /\bvalues \(/i.test(statement.text))).toBe(true);
    expect(await countActivities(tenant.id)).toBe(COPY_THRESHOLD);
  });

  it('validates every row first: VALIDATION_FAILED names each bad row and field, and nothing is sent', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    const rows = generatedActivities(10_000, [user!.id]);
    rows[7] = { ...rows[7]!, activity_type: 'not valid!' };
    rows[9_000] = { ...rows[9_000]!, metadata: { bad: Number.NaN } };
    const error = await asTenant(tenant.id, async (activities) => {
      const measured = await database.queries.measure(() => Promise.resolve().then(() => activities.insertBatch(activityBatchOf(rows))).catch((caught: unknown) => caught));
      expect(measured.queries).toBe(0);
      return measured.result;
    });
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((error as { details: { path: string }[] }).details.map((detail) => detail.path)).toEqual(['7.activity_type', '9000.metadata']);
    expect(await countActivities(tenant.id)).toBe(0);
  });

  it.each([10_000, 10])('stores nothing of a %i-row batch when one row names another tenant\'s user', async (count) => {
    const { tenant, users: [user] } = await tenantWithUsers();
    const { users: [stranger] } = await tenantWithUsers();
    const rows = generatedActivities(count, [user!.id]);
    rows[count - 1] = { ...rows[count - 1]!, user_id: stranger!.id };
    await expect(asTenant(tenant.id, (activities) => activities.insertBatch(activityBatchOf(rows)))).rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION' });
    expect(await countActivities(tenant.id)).toBe(0);
  });

  it('runs twice in one transaction and sends nothing for an empty batch', async () => {
    const { tenant, users: [user] } = await tenantWithUsers();
    await asTenant(tenant.id, async (activities) => {
      await activities.insertBatch(activityBatchOf(generatedActivities(COPY_THRESHOLD, [user!.id])));
      await activities.insertBatch(activityBatchOf(generatedActivities(COPY_THRESHOLD, [user!.id])));
      expect(await database.queries.measure(() => activities.insertBatch(activityBatchOf([])))).toMatchObject({ queries: 0, result: { inserted: 0 } });
    });
    expect(await countActivities(tenant.id)).toBe(2 * COPY_THRESHOLD);
  });
});
