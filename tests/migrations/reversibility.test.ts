import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate, migrationNames, rollback, showMigrations } from '../../src/db/migrator.js';
import { withTenant } from '../../src/db/tenant.js';
import { catalogSnapshot, changedSections, type CatalogSnapshot } from '../helpers/catalog-snapshot.js';
import { emptyDatabase, migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';

const names = migrationNames();
// Data-only migrations change rows, never the catalog; every other migration must show in the snapshot.
// Without the citus extension, the distribution migration changes nothing at all. 0022 changes the
// workers' catalogs only, which the coordinator's snapshot does not hold (the plan tests prove it).
const dataOnly = new Set(['0011_data_backfill_profiles', '0022_mark_search_operators_leakproof_on_workers',
  ...(onCitus() ? [] : ['0018_distribute_on_citus'])]);

async function strataTables(database: TestDatabase): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select relname as name from pg_class
    where relnamespace = 'public'::regnamespace and relkind in ('r', 'p', 'v', 'm', 'S')
      and relname not like 'kysely\_migration%'
      -- An extension's own (Citus puts its citus_tables and citus_schemas views in public).
      and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = pg_class.oid and d.deptype = 'e')
    order by 1`.execute(database.admin);
  return rows.map((row) => row.name);
}

describe('every migration', () => {
  let database: TestDatabase;
  let before: CatalogSnapshot;

  beforeAll(async () => {
    database = await emptyDatabase();
    before = await catalogSnapshot(database.admin);
  });

  // Sequential on purpose: each migration is checked on top of the ones before it.
  it.each(names.map((name, index) => ({ name, previous: index === 0 ? 'zero' : names[index - 1]! })))(
    '$name: down restores the catalog it found and up again restores what up made',
    async ({ name, previous }) => {
      expect(await migrate(database, name)).toEqual([`applied ${name}`]);
      const after = await catalogSnapshot(database.admin);
      if (dataOnly.has(name)) expect(changedSections(before, after)).toEqual([]);
      else expect(changedSections(before, after)).not.toEqual([]);

      expect(await migrate(database, previous)).toEqual([`reverted ${name}`]);
      expect(await catalogSnapshot(database.admin)).toEqual(before);

      await migrate(database, name);
      expect(await catalogSnapshot(database.admin)).toEqual(after);
      before = after;
    },
    // On a cluster 0018 converts every table three times over (up, down, up).
    onCitus() ? 300_000 : undefined,
  );
});

describe('the catalog snapshot', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await migratedDatabase();
  });

  // Each change below is one a careless `down` could leave behind; the snapshot must see every one.
  it.each([
    ['extensions', 'create extension if not exists pgcrypto'],
    ['types', `create type colour as enum ('red')`],
    ['relations', 'create view tenant_names as select name from tenant'],
    ['partitions', `create table user_activity_p2000_01 partition of user_activity for values from ('2000-01-01') to ('2000-02-01')`],
    ['columns', `alter table product alter column description set default 'none'`],
    ['columns', 'alter table tenant alter column created_at drop not null'],
    ['constraints', 'alter table inventory drop constraint inventory_quantity_non_negative'],
    ['indexes', 'drop index product_tags_gin_idx'],
    ['rowSecurity', 'alter table app_user no force row level security'],
    ['policies', 'alter policy tenant_isolation on product using (true)'],
    ['triggers', 'drop trigger product_audit on product'],
    ['functions', `create or replace function touch_updated_at() returns trigger language plpgsql as $$ begin return new; end $$`],
    ['privileges', 'revoke delete on product from strata_app'],
    ['privileges', 'revoke usage on schema public from strata_app'],
  ] as const)('sees %s change: %s', async (section, change) => {
    const before = await catalogSnapshot(database.admin);
    await sql.raw(change).execute(database.admin);
    expect(changedSections(before, await catalogSnapshot(database.admin))).toContain(section);
  });
});

describe('a full rollback with data present', () => {
  it('reverts every migration, leaves no Strata table, and migrates forward again', async () => {
    const database = await emptyDatabase();
    await migrate(database);
    const tenant = await database.admin.insertInto('tenant').values({ name: 'Acme', slug: 'acme' })
      .returning('id').executeTakeFirstOrThrow();
    await withTenant(database, { tenantId: tenant.id }, async (trx) => {
      const [ada, bob] = await trx.insertInto('app_user').values([
        { tenant_id: tenant.id, email: 'ada@acme.io', username: 'ada' },
        { tenant_id: tenant.id, email: 'bob@acme.io', username: 'bob' },
      ]).returning('id').execute();
      await trx.insertInto('profile').values([
        { tenant_id: tenant.id, user_id: ada!.id, bio: 'engineer' },
        { tenant_id: tenant.id, user_id: bob!.id },
      ]).execute();
      const organization = await trx.insertInto('organization').values({ tenant_id: tenant.id, name: 'R&D', slug: 'rnd' })
        .returning('id').executeTakeFirstOrThrow();
      const team = await trx.insertInto('team')
        .values({ tenant_id: tenant.id, organization_id: organization.id, name: 'Core', slug: 'core' })
        .returning('id').executeTakeFirstOrThrow();
      await trx.insertInto('membership').values({ tenant_id: tenant.id, team_id: team.id, user_id: ada!.id, role: 'owner' }).execute();
      const product = await trx.insertInto('product').values({ tenant_id: tenant.id, name: 'Widget', slug: 'widget', price: 9.5 })
        .returning('id').executeTakeFirstOrThrow();
      await trx.insertInto('inventory').values({ tenant_id: tenant.id, product_id: product.id, quantity: 20 }).execute();
      await trx.insertInto('user_activity').values([
        { tenant_id: tenant.id, user_id: ada!.id, activity_type: 'login' },
        { tenant_id: tenant.id, user_id: bob!.id, activity_type: 'view', metadata: JSON.stringify({ page: '/' }) },
      ]).execute();
    });
    const audit = await database.admin.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('rows'))
      .where('tenant_id', '=', tenant.id).executeTakeFirstOrThrow();
    expect(audit.rows).toBeGreaterThanOrEqual(8);

    if (onCitus()) {
      // On a cluster every activity row is stamped with the worker that stored it (0021), and one
      // watermark cannot hold several nodes' transaction ids: 0021 refuses to go down, changing
      // nothing, until those rows are gone.
      await expect(rollback(database, 999)).rejects.toMatchObject({ code: 'IRREVERSIBLE_MIGRATION', message: expect.stringContaining('0021') });
      expect((await showMigrations(database)).every((migration) => migration.executedAt)).toBe(true);
      await database.admin.deleteFrom('user_activity').execute();
    }
    const reverted = await rollback(database, 999);
    expect(reverted).toEqual([...names].reverse().map((name) => `reverted ${name}`));
    expect(await strataTables(database)).toEqual([]);
    expect((await showMigrations(database)).filter((migration) => migration.executedAt)).toEqual([]);

    expect(await migrate(database)).toEqual(names.map((name) => `applied ${name}`));
    expect((await showMigrations(database)).every((migration) => migration.executedAt)).toBe(true);
    expect(await strataTables(database)).toContain('user_activity');
  }, onCitus() ? 300_000 : undefined);
});

describe('0011_data_backfill_profiles', () => {
  it('gives every user a profile and settings, and its down removes only the rows still empty', async () => {
    const database = await emptyDatabase();
    await migrate(database, '0010_enable_row_level_security');
    const tenant = await database.admin.insertInto('tenant').values({ name: 'Acme', slug: 'acme' })
      .returning('id').executeTakeFirstOrThrow();
    const [bare, described] = await database.admin.insertInto('app_user').values([
      { tenant_id: tenant.id, email: 'bare@acme.io', username: 'bare' },
      { tenant_id: tenant.id, email: 'described@acme.io', username: 'described' },
    ]).returning('id').execute();
    await database.admin.insertInto('profile').values({ tenant_id: tenant.id, user_id: described!.id, bio: 'has a story' }).execute();
    await database.admin.insertInto('user_settings')
      .values({ tenant_id: tenant.id, user_id: described!.id, settings: JSON.stringify({ theme: 'dark' }) }).execute();
    const rowsOf = async (table: 'profile' | 'user_settings') => (await database.admin.selectFrom(table)
      .select('user_id').orderBy('user_id').execute()).map((row) => row.user_id);

    await migrate(database, '0011_data_backfill_profiles');
    expect(await rowsOf('profile')).toEqual([bare!.id, described!.id]);
    expect(await rowsOf('user_settings')).toEqual([bare!.id, described!.id]);
    const backfilled = await database.admin.selectFrom('user_settings').select('settings')
      .where('user_id', '=', bare!.id).executeTakeFirstOrThrow();
    expect(backfilled.settings).toEqual({});

    await migrate(database, '0010_enable_row_level_security');
    expect(await rowsOf('profile')).toEqual([described!.id]);
    expect(await rowsOf('user_settings')).toEqual([described!.id]);
    const kept = await database.admin.selectFrom('profile').select('bio').executeTakeFirstOrThrow();
    expect(kept.bio).toBe('has a story');
  });
});
