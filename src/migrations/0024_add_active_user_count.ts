import { sql, type Kysely } from 'kysely';

// Daily active users kept by the pipeline: DAU, WAU and MAU of each day a tenant had a user active in
// the 30 days ending on it, refreshed in the transaction that writes active_user_day. Computing them
// at read time took 1.9 s a range at 1,000,000 activities; read from here, a range is one index range
// scan on (tenant_id, day). A day with no row counted nobody. etl_run_ids are the runs of that day's
// own active_user_day rows: over the 29 days before a range and the range, they are the lineage the
// answer computed live would name. The table starts empty: the pipeline counts a tenant in full the
// first time it writes the tenant's active days, and until then its answers are computed live.

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
  // One statement each: Citus refuses a multi-statement string that changes a distributed table.
  for (const statement of [
    'ALTER TABLE active_user_count ENABLE ROW LEVEL SECURITY',
    'ALTER TABLE active_user_count FORCE ROW LEVEL SECURITY',
    `CREATE POLICY tenant_isolation ON active_user_count USING (tenant_id = ${currentTenant}) WITH CHECK (tenant_id = ${currentTenant})`,
    // Deleting a user recounts the days they were active on, in the tenant's own transaction.
    'GRANT SELECT, INSERT, UPDATE, DELETE ON active_user_count TO strata_app',
  ]) await sql.raw(statement).execute(db);
  if (await hasCitus(db)) {
    await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
    await sql`select create_distributed_table('active_user_count', 'tenant_id', colocate_with => 'app_user')`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  // Derived rows only: the pipeline rebuilds them from active_user_day.
  await sql`DROP TABLE active_user_count`.execute(db);
}
