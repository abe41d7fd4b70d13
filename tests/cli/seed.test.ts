import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildProgram } from '../../src/cli/program.js';
import { seedDemoData } from '../../src/cli/seed.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

describe('strata seed', () => {
  it('loads exactly the requested tenants, users, products and activities, each tenant\'s own', async () => {
    const progress: number[] = [];
    const result = await seedDemoData(database, { tenants: 2, users: 3, products: 4, activities: 12_001, onProgress: (n) => progress.push(n) });
    const ids = result.tenants.map((tenant) => tenant.id);
    const counts = await sql<{ users: number; products: number; stocked: number; activities: number; foreign: number }>`
      select (select count(*)::int from app_user where tenant_id = any(${ids})) as users,
        (select count(*)::int from product where tenant_id = any(${ids})) as products,
        (select count(*)::int from inventory where tenant_id = any(${ids}) and quantity > 0) as stocked,
        (select count(*)::int from user_activity where tenant_id = any(${ids})) as activities,
        (select count(*)::int from user_activity a where tenant_id = any(${ids})
           and not exists (select 1 from app_user u where u.tenant_id = a.tenant_id and u.id = a.user_id)) as foreign`
      .execute(database.admin);
    expect(counts.rows[0]).toEqual({ users: 6, products: 8, stocked: 8, activities: 12_001, foreign: 0 });
    expect(result).toMatchObject({ users: 6, products: 8, activities: 12_001, events: 3_000 });
    expect(progress.at(-1)).toBe(12_001);
  });

  it('spreads activity over 90 days with a weekly rhythm, growth, churn and cohorts that retain differently', async () => {
    const now = new Date();
    const { tenants } = await seedDemoData(database, { tenants: 1, users: 300, products: 0, activities: 20_000, events: 2_000, now });
    const tenantId = tenants[0]!.id;
    const { rows: [shape] } = await sql<{ days: number; future: number; oldest_days: number; in_default: number; events: number;
      weekend: number; weekday: number; first_month: number; last_month: number; churned: number }>`
      with daily as (select created_at::date as day, count(*) as n from user_activity where tenant_id = ${tenantId} group by 1)
      select (select count(*)::int from daily) as days,
        (select count(*)::int from user_activity where tenant_id = ${tenantId} and created_at > now()) as future,
        (select (current_date - min(day))::int from daily) as oldest_days,
        (select count(*)::int from user_activity_default where tenant_id = ${tenantId}) as in_default,
        (select count(*)::int from event where tenant_id = ${tenantId}) as events,
        (select avg(n)::float from daily where extract(isodow from day) >= 6) as weekend,
        (select avg(n)::float from daily where extract(isodow from day) < 6) as weekday,
        (select sum(n)::int from daily where day < current_date - 59) as first_month,
        (select sum(n)::int from daily where day >= current_date - 29) as last_month,
        (select count(*)::int from (select user_id from user_activity where tenant_id = ${tenantId}
           group by user_id having max(created_at) < now() - interval '21 days') gone) as churned`.execute(database.admin);
    expect(shape).toMatchObject({ future: 0, in_default: 0, events: 2_000 });
    expect(shape!.days).toBeGreaterThanOrEqual(85);
    expect(shape!.oldest_days).toBe(89);
    expect(shape!.weekend).toBeLessThan(shape!.weekday * 0.8);
    expect(shape!.last_month).toBeGreaterThan(shape!.first_month * 1.3);
    expect(shape!.churned).toBeGreaterThan(30);
    // Week-1 retention of the weekly cohorts (by first activity) spreads apart.
    const { rows: cohorts } = await sql<{ retained: number }>`
      with first_seen as (select user_id, date_trunc('week', min(created_at)) as cohort from user_activity where tenant_id = ${tenantId} group by 1),
      back as (select f.cohort, f.user_id, bool_or(a.created_at >= f.cohort + interval '7 days' and a.created_at < f.cohort + interval '14 days') as came_back
        from first_seen f join user_activity a on a.tenant_id = ${tenantId} and a.user_id = f.user_id group by 1, 2)
      select avg(came_back::int)::float as retained from back where cohort < now() - interval '14 days' group by cohort having count(*) >= 10`.execute(database.admin);
    const shares = cohorts.map((row) => row.retained);
    expect(Math.max(...shares) - Math.min(...shares)).toBeGreaterThan(0.15);
  });

  it('refuses a non-numeric count with VALIDATION_FAILED before touching the database', async () => {
    const before = database.queries.count;
    const context = {
      config: loadConfig({}),
      openRuntime: async () => ({ database, embedded: null, close: async () => undefined }),
      out: () => undefined,
      err: () => undefined,
    };
    await expect(buildProgram(context).parseAsync(['node', 'strata', 'seed', '--tenants', 'many']))
      .rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(database.queries.count).toBe(before);
  });

  it('prints one line per tenant with its key', async () => {
    const lines: string[] = [];
    const context = {
      config: loadConfig({}),
      openRuntime: async () => ({ database, embedded: null, close: async () => undefined }),
      out: (line: string) => lines.push(line),
      err: () => undefined,
    };
    await buildProgram(context).parseAsync(['node', 'strata', 'seed', '--tenants', '1', '--users', '2', '--products', '0', '--activities', '10', '--no-progress']);
    expect(lines[0]).toBe('Seeded 1 tenants, 2 users, 0 products, 10 activities, 2 events over the last 90 days.');
    expect(lines[1]).toMatch(/^ {2}tenant \d+ \(demo-[a-z0-9]+-1\) key: strata_\d+_/);
  });
});
