import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { addDays } from '../../src/models/analytics.js';
import {
  activeDaySpan, hasStoredCounts, markCountsStale, refreshActiveUserCounts, refreshStaleCounts,
} from '../../src/repositories/active-user-counts.js';
import { createTenant } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { recordStatements } from './plan-helpers.js';

let database: TestDatabase;
let statements: ReturnType<typeof recordStatements>;
let runId: number;
let usersMade = 0;

async function newUser(tenant: number): Promise<number> {
  usersMade += 1;
  return (await database.admin.insertInto('app_user').values({ tenant_id: tenant, email: `r${usersMade}@t${tenant}.io`, username: `r${usersMade}` })
    .returning('id').executeTakeFirstOrThrow()).id;
}

async function activeOn(tenant: number, user: number, days: string[]): Promise<void> {
  await database.admin.insertInto('active_user_day').values(days.map((day) => ({ tenant_id: tenant, user_id: user, day, etl_run_id: runId }))).execute();
}

const storedDays = async (tenant: number) => (await database.admin.selectFrom('active_user_count').select('day')
  .where('tenant_id', '=', tenant).orderBy('day').execute()).map((row) => row.day);
const marked = async (tenant: number) => (await database.admin.selectFrom('active_user_count_stale').select('tenant_id')
  .where('tenant_id', '=', tenant).execute()).length === 1;

beforeAll(async () => {
  database = await migratedDatabase();
  statements = recordStatements(database.pool);
  runId = (await database.admin.insertInto('etl_run').values({ pipeline: 'counts-rules' }).returning('id').executeTakeFirstOrThrow()).id;
});

describe('refreshing stale counts', () => {
  it('of no tenants named refreshes nothing, and of some named leaves the others marked', async () => {
    const [named, unnamed] = [(await createTenant(database, 'Named')).id, (await createTenant(database, 'Unnamed')).id];
    for (const tenant of [named, unnamed]) await activeOn(tenant, await newUser(tenant), ['2025-02-01']);
    await markCountsStale(database.admin, new Map([[named, { from: '2025-02-01', to: '2025-02-01' }], [unnamed, { from: '2025-02-01', to: '2025-02-01' }]]));
    expect(await refreshStaleCounts(database.admin, [])).toEqual({ tenants: 0, days: 0 });
    expect([await marked(named), await marked(unnamed)]).toEqual([true, true]);
    expect(await refreshStaleCounts(database.admin, [named])).toEqual({ tenants: 1, days: 30 });
    expect([await marked(named), await marked(unnamed)]).toEqual([false, true]);
    expect([await hasStoredCounts(database.admin, named), await hasStoredCounts(database.admin, unnamed)]).toEqual([true, false]);
  });

  it('counts a tenant never counted on every day its active days count in, however narrow its mark', async () => {
    const tenant = (await createTenant(database, 'Never counted')).id;
    await activeOn(tenant, await newUser(tenant), ['2025-01-10', '2025-03-01']);
    await markCountsStale(database.admin, new Map([[tenant, { from: '2025-02-01', to: '2025-02-01' }]]));
    expect(await refreshStaleCounts(database.admin, [tenant])).toEqual({ tenants: 1, days: 60 });
    const days = await storedDays(tenant);
    expect([days.length, days[0], days.at(-1)]).toEqual([60, '2025-01-10', addDays('2025-03-01', 29)]);
    expect(await marked(tenant)).toBe(false);
  });
});

describe('a tenant\'s active day span', () => {
  it('is one user\'s own when a user is named', async () => {
    const tenant = (await createTenant(database, 'Spans')).id;
    const [early, late] = [await newUser(tenant), await newUser(tenant)];
    await activeOn(tenant, early, ['2025-01-01', '2025-01-05']);
    await activeOn(tenant, late, ['2025-02-01', '2025-02-09']);
    expect(await activeDaySpan(database.admin, tenant)).toEqual({ from: '2025-01-01', to: '2025-02-09' });
    expect(await activeDaySpan(database.admin, tenant, late)).toEqual({ from: '2025-02-01', to: '2025-02-09' });
    expect(await activeDaySpan(database.admin, tenant, await newUser(tenant))).toBeUndefined();
  });
});

describe('a recount', () => {
  it('holds its tenant\'s counts lock, and no other tenant\'s, until it commits', async () => {
    const [tenant, other] = [(await createTenant(database, 'Locked')).id, (await createTenant(database, 'Free')).id];
    const tryLock = async (id: number) => (await sql<{ got: boolean }>`
      select pg_try_advisory_xact_lock(hashtextextended(${`active_user_count:${id}`}, 0)) as got`.execute(database.admin)).rows[0]!.got;
    await database.admin.transaction().execute(async (trx) => {
      await refreshActiveUserCounts(trx, tenant, '2025-01-01', '2025-01-02');
      expect([await tryLock(tenant), await tryLock(other)]).toEqual([false, true]);
    });
    expect(await tryLock(tenant)).toBe(true);
  });

  it('stores every counted day, however many, each once', async () => {
    const tenant = (await createTenant(database, 'Long')).id;
    const from = '2000-01-01';
    // Active every 20 days: someone counts in every day of the range.
    await activeOn(tenant, await newUser(tenant), Array.from({ length: 252 }, (_, i) => addDays(from, i * 20)));
    for (const [days, kept] of [[5_000, 5_000], [5_001, 5_001], [1, 5_001]] as const) {
      expect(await refreshActiveUserCounts(database.admin, tenant, from, addDays(from, days - 1))).toBe(days);
      expect((await storedDays(tenant)).length).toBe(kept);
    }
  });
});

describe('marking counts stale', () => {
  it('writes the tenants\' marks in tenant id order, whatever order the spans come in', async () => {
    const tenants = [(await createTenant(database, 'A')).id, (await createTenant(database, 'B')).id, (await createTenant(database, 'C')).id];
    const span = { from: '2025-01-01', to: '2025-01-02' };
    const [insert] = (await statements.capture(() => markCountsStale(database.admin, new Map([...tenants].reverse().map((id) => [id, span])))))
      .filter((statement) => statement.text.startsWith('insert into "active_user_count_stale"'));
    expect(insert!.values.filter((_, i) => i % 3 === 0).map(Number)).toEqual(tenants);
  });
});
