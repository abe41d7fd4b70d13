import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { addDays, daysBetween } from '../../src/models/analytics.js';
import { AnalyticsRepository, type ActiveUsersPoint } from '../../src/repositories/analytics-repository.js';
import { createTenant } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { explain, planNodes, recordStatements, rowPlan, type Statement } from './plan-helpers.js';

const FROM = '2025-03-01';
const TO = '2025-04-15';

let database: TestDatabase;
let statements: ReturnType<typeof recordStatements>;
let tenantId: number;
let otherTenantId: number;
let runId: number;
/** Tenant A's active days, as stored: the input of the reference computation. */
let stored: Array<{ day: string; userId: number }>;

async function usersOf(tenant: number, count: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    insert into app_user (tenant_id, email, username)
    select ${tenant}, 'u' || g || '@t' || ${tenant} || '.io', 'u' || g from generate_series(1, ${count}) g
    returning id`.execute(database.admin);
  return rows.map((row) => row.id).sort((a, b) => a - b);
}

async function store(tenant: number, days: Array<{ day: string; userId: number }>): Promise<void> {
  await database.admin.insertInto('active_user_day')
    .values(days.map(({ day, userId }) => ({ tenant_id: tenant, day, user_id: userId, etl_run_id: runId })))
    .execute();
}

/** The definition itself: per day, rows on it, and distinct users in the 7 and 30 days ending on it. */
function reference(rows: Array<{ day: string; userId: number }>, from: string, to: string): ActiveUsersPoint[] {
  const distinctWithin = (day: string, length: number) =>
    new Set(rows.filter((row) => row.day <= day && daysBetween(row.day, day) < length).map((row) => row.userId)).size;
  return Array.from({ length: daysBetween(from, to) + 1 }, (_, offset) => {
    const day = addDays(from, offset);
    return { day, dau: rows.filter((row) => row.day === day).length, wau: distinctWithin(day, 7), mau: distinctWithin(day, 30) };
  });
}

const activeUsers = (tenant: number, from: string, to: string) =>
  withTenant(database, { tenantId: tenant }, (trx) => new AnalyticsRepository(trx).activeUsers({ from, to }));

beforeAll(async () => {
  database = await migratedDatabase();
  statements = recordStatements(database.pool);
  tenantId = (await createTenant(database, 'Active')).id;
  otherTenantId = (await createTenant(database, 'Other')).id;
  runId = (await database.admin.insertInto('etl_run').values({ pipeline: 'active-users-test' }).returning('id').executeTakeFirstOrThrow()).id;
  const [firstDayOnly, windowEdges, gaps, lastDay, tooEarly, ...others] = await usersOf(tenantId, 45);
  const edgeCases = [
    { userId: firstDayOnly!, days: [FROM] },
    // 29 days before the range: in its first day's MAU only; 6 days before: in its first day's WAU only.
    { userId: windowEdges!, days: [addDays(FROM, -29), addDays(FROM, -6)] },
    // Gaps of 6 and 7 days (the weekly window just reaches, then just does not) and of 29 (the monthly one just reaches).
    { userId: gaps!, days: [addDays(FROM, 2), addDays(FROM, 8), addDays(FROM, 15), addDays(FROM, 16), addDays(FROM, 45)].filter((day) => day <= TO) },
    // The range's last day, and the day after it, which no answer may count.
    { userId: lastDay!, days: [TO, addDays(TO, 1)] },
    // 30 days before the range: outside every window the range asks about.
    { userId: tooEarly!, days: [addDays(FROM, -30)] },
  ];
  // A fixed pseudo-random spread over the range and the 40 days before it: runs of days and gaps.
  let seed = 7;
  const random = () => (seed = (seed * 48_271) % 2_147_483_647) / 2_147_483_647;
  const spread = others.map((userId) => ({
    userId, days: [...new Set(Array.from({ length: 1 + Math.floor(random() * 30) }, () => addDays(FROM, Math.floor(random() * 90) - 40)))],
  }));
  stored = [...edgeCases, ...spread].flatMap(({ userId, days }) => days.map((day) => ({ day, userId })));
  await store(tenantId, stored);
  // Another tenant active every day of the range: none of it may reach tenant A's counts.
  const [otherUser] = await usersOf(otherTenantId, 1);
  await store(otherTenantId, Array.from({ length: daysBetween(FROM, TO) + 1 }, (_, offset) => ({ day: addDays(FROM, offset), userId: otherUser! })));
});

describe('AnalyticsRepository.activeUsers', () => {
  it('equals the definition on every day of a range, at window edges, gaps and both ends of the range', async () => {
    const { rows } = await activeUsers(tenantId, FROM, TO);
    expect(rows).toEqual(reference(stored, FROM, TO));
    // The seeded edge cases show in the answer itself, not only through the reference.
    expect(rows.map((row) => row.mau)).not.toContain(0);
    expect(rows.at(-1)!.dau).toBeGreaterThanOrEqual(1);
  });

  it('equals the definition on ranges that start or end amid the data, one day long included', async () => {
    for (const [from, to] of [[addDays(FROM, 3), addDays(FROM, 3)], [addDays(FROM, 9), addDays(FROM, 20)], [addDays(FROM, -35), addDays(FROM, -10)], [addDays(TO, -1), addDays(TO, 40)]] as const) {
      expect((await activeUsers(tenantId, from, to)).rows).toEqual(reference(stored, from, to));
    }
  });

  it('answers zeros for every day of a range with no activity near it', async () => {
    const { rows, etlRunIds } = await activeUsers(tenantId, '2024-01-01', '2024-01-10');
    expect(rows).toEqual(reference([], '2024-01-01', '2024-01-10'));
    expect(etlRunIds).toEqual([]);
  });

  it('cannot see another tenant\'s active days', async () => {
    const { rows } = await activeUsers(otherTenantId, FROM, TO);
    expect(rows.every((row) => row.dau === 1 && row.wau === 1 && row.mau === 1)).toBe(true);
    const first = (await activeUsers(tenantId, FROM, FROM)).rows[0]!;
    expect(first).toEqual(reference(stored, FROM, FROM)[0]);
  });

  it('reads the range\'s active days once, in one statement without a subquery per day', async () => {
    const captured = await statements.capture(() => activeUsers(tenantId, FROM, TO));
    const counting = captured.filter((statement: Statement) => /\blead\(day\)/.test(statement.text));
    expect(counting).toHaveLength(1);
    const plan = rowPlan(await explain(database, tenantId, counting[0]!));
    const nodes = planNodes(plan);
    expect(nodes.filter((node) => node['Relation Name'] === 'active_user_day')).toHaveLength(1);
    expect(nodes.filter((node) => node['Parent Relationship'] === 'SubPlan')).toEqual([]);
  });
});
