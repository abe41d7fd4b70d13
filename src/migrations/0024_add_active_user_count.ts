import { sql, type Kysely } from 'kysely';

// Daily active users kept for the analytics read: DAU, WAU and MAU of each day a tenant had a user
// active in the 30 days ending on it. Computing them at read time took 1.9 s a range at 1,000,000
// activities; read from here, a range is one index range scan on (tenant_id, day). A day with no row
// counted nobody. etl_run_ids are the runs of that day's own active_user_day rows: over the 29 days
// before a range and the range, they are the lineage the answer computed live would name.
// active_user_count_stale holds, per tenant, the days whose counts a write to active_user_day has
// made stale (marked in the writing transaction, so never missed): the read answers those live until
// a refresh recounts them, and `version` tells a refresh whether another write came meanwhile.
// The tables start empty: a tenant without counts is answered live until it is first counted.

const currentTenant = `nullif(current_setting('app.tenant_id', true), '')::bigint`;

async function hasCitus(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ citus: boolean }>`select exists (select 1 from pg_extension where extname = 'citus') as citus`.execute(db);
  return rows[0]?.citus ?? false;
}

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE active_user_count (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      day date NOT NULL,
      dau bigint NOT NULL,
      wau bigint NOT NULL,
      mau bigint NOT NULL,
      etl_run_ids bigint[] NOT NULL DEFAULT '{}',
      PRIMARY KEY (tenant_id, day),
      -- A day's users are among its week's, its week's among its month's; a row counts someone.
      CONSTRAINT active_user_count_nested CHECK (0 <= dau AND dau <= wau AND wau <= mau AND mau > 0)
    )`.execute(db);
  await sql`
    CREATE TABLE active_user_count_stale (
      tenant_id bigint PRIMARY KEY REFERENCES tenant (id) ON DELETE CASCADE,
      from_day date NOT NULL,
      to_day date NOT NULL,
      version bigint NOT NULL DEFAULT 1,
      CONSTRAINT active_user_count_stale_span CHECK (from_day <= to_day)
    )`.execute(db);
  // One statement each: Citus refuses a multi-statement string that changes a distributed table.
  for (const statement of [
    'ALTER TABLE active_user_count ENABLE ROW LEVEL SECURITY',
    'ALTER TABLE active_user_count FORCE ROW LEVEL SECURITY',
    `CREATE POLICY tenant_isolation ON active_user_count USING (tenant_id = ${currentTenant}) WITH CHECK (tenant_id = ${currentTenant})`,
    'GRANT SELECT ON active_user_count TO strata_app',
    'ALTER TABLE active_user_count_stale ENABLE ROW LEVEL SECURITY',
    'ALTER TABLE active_user_count_stale FORCE ROW LEVEL SECURITY',
    `CREATE POLICY tenant_isolation ON active_user_count_stale USING (tenant_id = ${currentTenant}) WITH CHECK (tenant_id = ${currentTenant})`,
    // Deleting a user marks the days they counted in, in the tenant's own transaction.
    'GRANT SELECT, INSERT, UPDATE ON active_user_count_stale TO strata_app',
  ]) await sql.raw(statement).execute(db);
  if (await hasCitus(db)) {
    await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
    await sql`select create_distributed_table('active_user_count', 'tenant_id', colocate_with => 'app_user')`.execute(db);
    await sql`select create_distributed_table('active_user_count_stale', 'tenant_id', colocate_with => 'app_user')`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  // Derived rows only: the pipeline rebuilds them from active_user_day.
  await sql`DROP TABLE active_user_count_stale`.execute(db);
  await sql`DROP TABLE active_user_count`.execute(db);
}
