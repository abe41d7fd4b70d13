import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { buildProgram } from '../../src/cli/program.js';
import { seedDemoData } from '../../src/cli/demo-data.js';
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
    expect(result).toMatchObject({ users: 6, products: 8, activities: 12_001 });
    expect(progress.at(-1)).toBe(12_001);
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
    expect(lines[0]).toBe('Seeded 1 tenants, 2 users, 0 products, 10 activities.');
    expect(lines[1]).toMatch(/^ {2}tenant \d+ \(demo-[a-z0-9]+-1\) key: strata_\d+_/);
  });
});
