import { sql, type RawBuilder } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE, openDatabase } from '../../src/db/database.js';
import { withTenant } from '../../src/db/tenant.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { seeders, tenantTables } from './tenant-seeders.js';

let database: TestDatabase;
let tables: string[];
let a: { id: number };
let b: { id: number };

async function privilege(table: string, kind: 'INSERT' | 'UPDATE' | 'DELETE'): Promise<boolean> {
  const { rows } = await sql<{ granted: boolean }>`select has_table_privilege(${APP_ROLE}, ${table}, ${kind}) as granted`
    .execute(database.admin);
  return rows[0]!.granted;
}

async function tenantCounts(table: string): Promise<Record<number, number>> {
  const { rows } = await sql<{ tenant_id: number; rows: number }>`
    select tenant_id, count(*)::int as rows from ${sql.table(table)} group by tenant_id`.execute(database.admin);
  return Object.fromEntries(rows.map((row) => [row.tenant_id, row.rows]));
}

async function failureOf(promise: Promise<unknown>): Promise<{ code?: string; message?: string; cause?: { message?: string } } | null> {
  return promise.then(() => null, (error: { code?: string; message?: string; cause?: { message?: string } }) => error);
}

beforeAll(async () => {
  database = await migratedDatabase();
  tables = await tenantTables(database.admin);
  a = await createTenant(database, 'Alpha');
  b = await createTenant(database, 'Beta');
  for (const table of tables) {
    if (!seeders[table]) continue;
    for (const tenant of [a, b]) await (await seeders[table](database.admin, tenant.id)).execute(database.admin);
  }
});

describe('row-level security', () => {
  it('has a seeder for every table that has tenant_id, so a new table cannot skip these checks', () => {
    expect(tables.length).toBeGreaterThanOrEqual(18);
    expect(tables.filter((table) => !seeders[table]), 'tables without a seeder in tests/db/tenant-seeders.ts').toEqual([]);
    expect(Object.keys(seeders).filter((table) => !tables.includes(table)), 'seeders for tables that no longer exist').toEqual([]);
  });

  // Migration 0023's cache versions carry tenant_id so that Citus keeps them beside the tenant's rows.
  // The checks below need the role's privileges; on these it has none, which no policy could loosen.
  it('grants the application role nothing on the one table with tenant_id that has no tenant policy, the cache versions', async () => {
    expect(await tenantTables(database.admin, 'unreachable')).toEqual(['cache_version']);
  });

  it('is enabled and forced, with a tenant policy, on every table that has tenant_id', async () => {
    const { rows } = await sql<{ table: string; enabled: boolean; forced: boolean; policies: number }>`
      select c.relname as table, c.relrowsecurity as enabled, c.relforcerowsecurity as forced,
        (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
      from pg_class c where c.relname = any(${tables})`.execute(database.admin);
    expect(rows).toHaveLength(tables.length);
    for (const row of rows) expect(row, row.table).toMatchObject({ enabled: true, forced: true, policies: 1 });
  });

  it('returns only the current tenant\'s rows from a raw select on every tenant table, seeded for both tenants', async () => {
    for (const table of tables) {
      const counts = await tenantCounts(table);
      expect(counts[a.id], `${table}: rows of A`).toBeGreaterThanOrEqual(1);
      expect(counts[b.id], `${table}: rows of B`).toBeGreaterThanOrEqual(1);
    }
    for (const [tenant, other] of [[a, b], [b, a]] as const) {
      await withTenant(database, { tenantId: tenant.id }, async (trx) => {
        for (const table of tables) {
          const { rows } = await sql<{ tenant_id: number }>`select * from ${sql.table(table)}`.execute(trx);
          expect(rows.length, table).toBeGreaterThanOrEqual(1);
          expect(rows.filter((row) => row.tenant_id !== tenant.id), `${table}: rows of tenant ${other.id}`).toEqual([]);
        }
      });
    }
  });

  it('shows a tenant its own tenant row only', async () => {
    const rows = await withTenant(database, { tenantId: a.id }, (trx) => trx.selectFrom('tenant').select('id').execute());
    expect(rows).toEqual([{ id: a.id }]);
  });

  it('refuses, on every tenant table, an insert of another tenant\'s tenant_id under a tenant context', async () => {
    for (const table of tables) {
      const insert: RawBuilder<unknown> = await seeders[table]!(database.admin, b.id);
      const canInsert = await privilege(table, 'INSERT');
      const failure = await failureOf(withTenant(database, { tenantId: a.id }, (trx) => insert.execute(trx)));
      // The policy must be what refuses (NOT_FOUND to the caller); a table the role cannot write at
      // all refuses by privilege, which stays an unmapped 42501: no client request can cause it.
      if (canInsert) {
        expect(failure?.code, table).toBe('NOT_FOUND');
        expect(failure?.cause?.message, table).toMatch(/new row violates row-level security policy/);
      } else {
        expect(failure?.code, table).toBe('42501');
        expect(failure?.message, table).toMatch(/permission denied/);
      }
      // The very same row is accepted in its own tenant's context: nothing else was wrong with it.
      if (canInsert) await withTenant(database, { tenantId: b.id }, (trx) => insert.execute(trx));
    }
  });

  it('lets no update or delete under one tenant reach another tenant\'s rows, nor move a row to it', async () => {
    for (const table of tables) {
      const before = await tenantCounts(table);
      await withTenant(database, { tenantId: a.id }, async (trx) => {
        if (await privilege(table, 'UPDATE')) {
          const touched = await sql`update ${sql.table(table)} set tenant_id = tenant_id where tenant_id = ${b.id}`.execute(trx);
          expect(touched.numAffectedRows, `${table}: update`).toBe(0n);
        }
        if (await privilege(table, 'DELETE')) {
          const removed = await sql`delete from ${sql.table(table)} where tenant_id = ${b.id}`.execute(trx);
          expect(removed.numAffectedRows, `${table}: delete`).toBe(0n);
        }
      });
      if (await privilege(table, 'UPDATE')) {
        const failure = await failureOf(withTenant(database, { tenantId: a.id },
          (trx) => sql`update ${sql.table(table)} set tenant_id = ${b.id} where tenant_id = ${a.id}`.execute(trx)));
        // On Citus the distribution column cannot change at all, so the move is refused before the policy.
        expect(failure?.cause?.message ?? failure?.message, `${table}: move to B`)
          .toMatch(onCitus() ? /modifying the partition value of rows is not allowed/ : /new row violates row-level security policy/);
      }
      expect(await tenantCounts(table), table).toEqual(before);
    }
  });

  it('shows the application role no row at all without a tenant context', async () => {
    await database.admin.transaction().execute(async (trx) => {
      await sql`select set_config('role', ${APP_ROLE}, true)`.execute(trx);
      for (const table of tables) {
        const { rows } = await sql`select * from ${sql.table(table)}`.execute(trx);
        expect(rows, table).toEqual([]);
      }
    });
  });

  it('grants the application role nothing on partitions, which bypass their parent\'s policy', async () => {
    const { rows } = await sql<{ partition: string; granted: boolean }>`
      select c.relname as partition, has_table_privilege(${APP_ROLE}, c.oid, 'SELECT, INSERT, UPDATE, DELETE') as granted
      from pg_class c where c.relnamespace = 'public'::regnamespace and c.relispartition`.execute(database.admin);
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.filter((row) => row.granted)).toEqual([]);
  });
});

describe('composite foreign keys', () => {
  it('refuse an activity whose user belongs to another tenant, even to the admin handle', async () => {
    const intruder = await createUser(database, b.id);
    await expect(database.admin.insertInto('user_activity')
      .values({ tenant_id: a.id, user_id: intruder.id, activity_type: 'login' }).execute())
      .rejects.toMatchObject({ code: '23503' });
  });
});

describe('withTenant', () => {
  const single = () => {
    const pooled = openDatabase(database.url, { maxConnections: 1 });
    afterAll(() => pooled.close());
    return pooled;
  };

  it('leaves no tenant, actor or role on the pooled connection after its transaction', async () => {
    const pooled = single();
    const session = sql<{ pid: number; tenant: string | null; actor: string | null; role: string }>`
      select pg_backend_pid() as pid, current_setting('app.tenant_id', true) as tenant,
        current_setting('app.actor_id', true) as actor, current_user as role`;
    const inside = await withTenant(pooled, { tenantId: a.id, actorId: 7 }, async (trx) => (await session.execute(trx)).rows[0]!);
    expect(inside).toMatchObject({ tenant: String(a.id), actor: '7', role: APP_ROLE });

    const after = (await session.execute(pooled.admin)).rows[0]!;
    expect(after.pid).toBe(inside.pid);
    expect(after.tenant ?? '').toBe('');
    expect(after.actor ?? '').toBe('');
    expect(after.role).not.toBe(APP_ROLE);

    await expect(withTenant(pooled, { tenantId: b.id }, async () => { throw new Error('rolled back'); })).rejects.toThrow('rolled back');
    const afterFailure = (await session.execute(pooled.admin)).rows[0]!;
    expect(afterFailure).toMatchObject({ pid: inside.pid, role: after.role });
    expect(afterFailure.tenant ?? '').toBe('');
  });

  it.runIf(onCitus())('on Citus, scopes the workers too on a connection opened before the database was distributed', async () => {
    // Such a connection (`strata serve` migrates with the pool it then serves from) lacks the
    // database's propagation setting of migration 0018: this URL opens one the same way.
    const url = new URL(database.url);
    url.searchParams.set('options', '-c citus.propagate_set_commands=none');
    const early = openDatabase(url.toString(), { maxConnections: 1 });
    try {
      const user = await withTenant(early, { tenantId: a.id }, (trx) => trx.insertInto('app_user')
        .values({ tenant_id: a.id, email: 'early@example.com', username: 'early' }).returning(['id', 'tenant_id']).executeTakeFirstOrThrow());
      expect(user.tenant_id).toBe(a.id);
      const seen = await withTenant(early, { tenantId: b.id }, (trx) => trx.selectFrom('app_user').select('id').where('id', '=', user.id).execute());
      expect(seen).toEqual([]);
      const { rows: [setting] } = await sql<{ value: string }>`select current_setting('citus.propagate_set_commands') as value`.execute(early.admin);
      expect(setting!.value).toBe('none');
    } finally {
      await early.close();
    }
  });

  it('rejects a context without a valid tenant before opening a transaction', async () => {
    for (const tenantId of [0, -1, 1.5, Number.NaN]) {
      await expect(withTenant(database, { tenantId }, async () => 'ran'), String(tenantId))
        .rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });
});
