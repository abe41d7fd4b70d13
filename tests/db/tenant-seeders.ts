import { randomBytes } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { APP_ROLE } from '../../src/db/database.js';
import type { DB } from '../../src/db/schema.generated.js';

type Admin = Kysely<DB>;

/**
 * Prepares, as admin, the parent rows one new row of `table` needs for a tenant, and returns the
 * single-table insert of that row: run as admin it seeds, run under a tenant context it probes the
 * policy of that table alone (its parents already exist, so only its own policy can refuse it).
 */
export type Seeder = (admin: Admin, tenantId: number) => Promise<RawBuilder<unknown>>;

const unique = () => randomBytes(5).toString('hex');

async function idOf(admin: Admin, query: RawBuilder<{ id: number }>): Promise<number> {
  const { rows } = await query.execute(admin);
  return rows[0]!.id;
}

const parent = {
  user: (admin: Admin, tenantId: number) => {
    const name = `u${unique()}`;
    return idOf(admin, sql`insert into app_user (tenant_id, email, username) values (${tenantId}, ${`${name}@example.com`}, ${name}) returning id`);
  },
  organization: (admin: Admin, tenantId: number) => idOf(admin,
    sql`insert into organization (tenant_id, name, slug) values (${tenantId}, 'Org', ${`org-${unique()}`}) returning id`),
  team: async (admin: Admin, tenantId: number) => {
    const organization = await parent.organization(admin, tenantId);
    return idOf(admin, sql`insert into team (tenant_id, organization_id, name, slug)
      values (${tenantId}, ${organization}, 'Team', ${`team-${unique()}`}) returning id`);
  },
  project: (admin: Admin, tenantId: number) => idOf(admin,
    sql`insert into project (tenant_id, name, slug) values (${tenantId}, 'Project', ${`project-${unique()}`}) returning id`),
  product: (admin: Admin, tenantId: number) => idOf(admin,
    sql`insert into product (tenant_id, name, slug) values (${tenantId}, 'Product', ${`product-${unique()}`}) returning id`),
  etlRun: (admin: Admin) => idOf(admin, sql`insert into etl_run (pipeline) values ('isolation-test') returning id`),
  auditLog: (admin: Admin, tenantId: number) => idOf(admin, sql`insert into audit_log (tenant_id, table_name, entity_id, action)
    values (${tenantId}, 'product', ${unique()}, 'INSERT') returning id`),
};

/** One seeder per table that has tenant_id; a table missing here fails the isolation tests. */
export const seeders: Record<string, Seeder> = {
  api_key: async (_admin, t) => sql`insert into api_key (tenant_id, prefix, key_hash) values (${t}, ${unique()}, 'hash')`,
  app_user: async (_admin, t) => {
    const name = `u${unique()}`;
    return sql`insert into app_user (tenant_id, email, username) values (${t}, ${`${name}@example.com`}, ${name})`;
  },
  profile: async (admin, t) => sql`insert into profile (tenant_id, user_id, bio) values (${t}, ${await parent.user(admin, t)}, 'bio')`,
  user_settings: async (admin, t) => sql`insert into user_settings (tenant_id, user_id) values (${t}, ${await parent.user(admin, t)})`,
  organization: async (_admin, t) => sql`insert into organization (tenant_id, name, slug) values (${t}, 'Org', ${`org-${unique()}`})`,
  team: async (admin, t) => sql`insert into team (tenant_id, organization_id, name, slug)
    values (${t}, ${await parent.organization(admin, t)}, 'Team', ${`team-${unique()}`})`,
  membership: async (admin, t) => sql`insert into membership (tenant_id, team_id, user_id)
    values (${t}, ${await parent.team(admin, t)}, ${await parent.user(admin, t)})`,
  project: async (_admin, t) => sql`insert into project (tenant_id, name, slug) values (${t}, 'Project', ${`project-${unique()}`})`,
  project_member: async (admin, t) => sql`insert into project_member (tenant_id, project_id, user_id)
    values (${t}, ${await parent.project(admin, t)}, ${await parent.user(admin, t)})`,
  product: async (_admin, t) => sql`insert into product (tenant_id, name, slug) values (${t}, 'Product', ${`product-${unique()}`})`,
  inventory: async (admin, t) => sql`insert into inventory (tenant_id, product_id, quantity) values (${t}, ${await parent.product(admin, t)}, 5)`,
  user_activity: async (admin, t) => sql`insert into user_activity (tenant_id, user_id, activity_type)
    values (${t}, ${await parent.user(admin, t)}, 'login')`,
  event: async (_admin, t) => sql`insert into event (tenant_id, client_id, distinct_id, name)
    values (${t}, gen_random_uuid(), ${unique()}, 'page_view')`,
  metric: async (admin, t) => sql`insert into metric (tenant_id, name, day, value, etl_run_id)
    values (${t}, ${`metric_${unique()}`}, current_date, 1, ${await parent.etlRun(admin)})`,
  active_user_day: async (admin, t) => sql`insert into active_user_day (tenant_id, day, user_id, etl_run_id)
    values (${t}, current_date, ${await parent.user(admin, t)}, ${await parent.etlRun(admin)})`,
  // A day apart per seeding: (tenant_id, day) is the key.
  active_user_count: async (_admin, t) => sql`insert into active_user_count (tenant_id, day, dau, wau, mau)
    values (${t}, current_date - ${Number.parseInt(unique(), 16) % 100_000}::int, 1, 1, 1)`,
  // One mark a tenant: seeded again, it widens as a write's mark does.
  active_user_count_stale: async (_admin, t) => sql`insert into active_user_count_stale (tenant_id, from_day, to_day)
    values (${t}, current_date, current_date + 29)
    on conflict (tenant_id) do update set version = active_user_count_stale.version + 1`,
  report: async (_admin, t) => sql`insert into report (tenant_id, kind, period_start, period_end, body)
    values (${t}, 'weekly_activity', current_date, current_date, '{}')`,
  audit_log: async (_admin, t) => sql`insert into audit_log (tenant_id, table_name, entity_id, action)
    values (${t}, 'product', ${unique()}, 'INSERT')`,
  change_history: async (admin, t) => sql`insert into change_history (tenant_id, audit_id, field, new_value)
    values (${t}, ${await parent.auditLog(admin, t)}, 'name', '"x"')`,
  idempotency_key: async (_admin, t) => sql`insert into idempotency_key (tenant_id, scope, key, request_hash)
    values (${t}, 'activities', ${unique()}, 'hash')`,
  etl_quarantine: async (admin, t) => sql`insert into etl_quarantine (tenant_id, source, source_id, etl_run_id, reason, row_data)
    values (${t}, 'event', ${Number.parseInt(unique(), 16)}, ${await parent.etlRun(admin)}, 'invalid', '{}')`,
};

/**
 * Every table that carries tenant_id, partitions aside (they are reached through their parent);
 * `reachable` keeps those the application role holds any privilege on, `unreachable` the others.
 */
export async function tenantTables(admin: Admin, which: 'reachable' | 'unreachable' = 'reachable'): Promise<string[]> {
  const { rows } = await sql<{ table: string }>`
    select c.relname as table from pg_class c
    where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
      and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped)
      and has_table_privilege(${APP_ROLE}, c.oid, 'SELECT, INSERT, UPDATE, DELETE') = ${which === 'reachable'}
    order by 1`.execute(admin);
  return rows.map((row) => row.table);
}
