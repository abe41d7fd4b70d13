import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

describe('row-level security', () => {
  it('is enabled and forced, with a tenant policy, on every table that has tenant_id', async () => {
    const { rows } = await sql<{ table: string; enabled: boolean; forced: boolean; policies: number }>`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
        (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
        and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
      order by 1`.execute(database.admin);
    expect(rows.length).toBeGreaterThanOrEqual(18);
    for (const row of rows) expect(row, row.table).toMatchObject({ enabled: true, forced: true, policies: 1 });
  });

  it('returns only the current tenant\'s rows from a raw select on every tenant table', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    await createUser(database, a.id);
    await createUser(database, b.id);
    const { rows: tables } = await sql<{ table: string }>`
      select c.relname as table from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
        and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)`
      .execute(database.admin);
    await withTenant(database, { tenantId: a.id }, async (trx) => {
      for (const { table } of tables) {
        const { rows } = await sql<{ tenant_id: number }>`select tenant_id from ${sql.table(table)}`.execute(trx);
        expect(rows.every((row) => row.tenant_id === a.id), table).toBe(true);
      }
      const users = await trx.selectFrom('app_user').select('tenant_id').execute();
      expect(users.map((user) => user.tenant_id)).toEqual([a.id]);
    });
  });

  it('refuses an insert of another tenant\'s tenant_id under a tenant context', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    await expect(withTenant(database, { tenantId: a.id }, (trx) => trx.insertInto('app_user')
      .values({ tenant_id: b.id, email: 'intruder@example.com', username: 'intruder' }).execute()))
      .rejects.toMatchObject({ code: 'NOT_FOUND' });
    const count = await database.admin.selectFrom('app_user').where('tenant_id', '=', b.id)
      .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(count.n).toBe(0);
  });
});
