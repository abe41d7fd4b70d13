import { sql, type Kysely } from 'kysely';

// On a Citus cluster every tenant-owned table is sharded by tenant_id and colocated with app_user,
// so one tenant's rows of every table live on one node and its joins, foreign keys and triggers
// stay on that node. The two global tables that tenant tables point at (tenant, etl_run) become
// reference tables, copied to every node; admin keys, the migration tables and the job queue stay
// on the coordinator. Without the citus extension this migration does nothing.

const referenceTables = ['tenant', 'etl_run'];
// app_user first: every other table is colocated with it.
const tenantTables = ['app_user', 'api_key', 'profile', 'user_settings', 'organization', 'team', 'membership',
  'project', 'project_member', 'product', 'inventory', 'user_activity', 'event', 'metric', 'active_user_day',
  'report', 'audit_log', 'change_history', 'idempotency_key', 'etl_quarantine'];

// Citus refuses ON DELETE SET NULL on a key that holds the distribution column, even in the
// column-list form that leaves tenant_id alone. These keys keep their check (NO ACTION) and a
// BEFORE DELETE trigger clears the reference, which is what SET NULL (column) did.
const setNullKeys = [
  { table: 'event', constraint: 'event_tenant_id_user_id_fkey', column: 'user_id', parent: 'app_user', trigger: 'app_user_clear_event_user' },
  { table: 'project', constraint: 'project_tenant_id_organization_id_fkey', column: 'organization_id', parent: 'organization', trigger: 'organization_clear_project_organization' },
];

// 0017 checks active_user_day's keys with statement-level triggers that look up users and runs
// across the table (FOR KEY SHARE), which Citus cannot run from a shard. On a cluster the foreign
// keys are shard-local (colocated with app_user, or to the etl_run reference table), so the keys
// come back as constraints, under the names the triggers reported.
const activeDayTriggers = [
  { name: 'active_user_day_insert_keys', definition: 'AFTER INSERT ON active_user_day REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION active_user_day_check_keys()' },
  { name: 'active_user_day_update_keys', definition: 'AFTER UPDATE ON active_user_day REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION active_user_day_check_keys()' },
  { name: 'app_user_delete_active_days', definition: 'AFTER DELETE ON app_user REFERENCING OLD TABLE AS old_users FOR EACH STATEMENT EXECUTE FUNCTION app_user_cascade_active_days()' },
  { name: 'app_user_update_active_days', definition: 'AFTER UPDATE ON app_user REFERENCING OLD TABLE AS old_users FOR EACH STATEMENT EXECUTE FUNCTION app_user_cascade_active_days()' },
  { name: 'etl_run_delete_named_runs', definition: 'AFTER DELETE ON etl_run REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION etl_run_keep_named_runs()' },
  { name: 'etl_run_update_named_runs', definition: 'AFTER UPDATE ON etl_run REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION etl_run_keep_named_runs()' },
];

// The audit trigger names the table it fired on, and on a cluster it fires on a shard
// (app_user_102008): the logical name is the shard's without its id.
const shardTableName = "regexp_replace(TG_TABLE_NAME, '_[0-9]+$', '')";

async function rewriteAuditTableName(db: Kysely<any>, from: string, to: string): Promise<void> {
  const { rows } = await sql<{ definition: string }>`select pg_get_functiondef('audit_row_change'::regproc) as definition`.execute(db);
  const definition = rows[0]!.definition;
  if (!definition.includes(from)) throw new Error(`audit_row_change() does not hold ${from}`);
  await sql.raw(definition.replace(from, () => to)).execute(db);
}

async function hasCitus(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ citus: boolean }>`select exists (select 1 from pg_extension where extname = 'citus') as citus`.execute(db);
  return rows[0]?.citus ?? false;
}

// Foreign keys between the tables being converted must go first (Citus converts every table of a
// foreign-key graph at once and stops at the partitioned activity table) and come back after.
async function withForeignKeysDropped(db: Kysely<any>, keep: (definition: string) => string, convert: () => Promise<void>): Promise<void> {
  const tables = [...referenceTables, ...tenantTables];
  const { rows: keys } = await sql<{ table: string; name: string; definition: string }>`
    select conrelid::regclass::text as table, conname as name, pg_get_constraintdef(oid) as definition
    from pg_constraint
    where contype = 'f' and conparentid = 0 and conrelid::regclass::text = any(${tables}) order by conrelid::regclass::text, conname`.execute(db);
  for (const key of keys) await sql`alter table ${sql.table(key.table)} drop constraint ${sql.id(key.name)}`.execute(db);
  await convert();
  for (const key of keys) {
    await sql`alter table ${sql.table(key.table)} add constraint ${sql.id(key.name)} ${sql.raw(keep(key.definition))}`.execute(db);
  }
}

// Converting a table copies its rows into the new table (create_distributed_table into the shards,
// undistribute_table back), and its triggers would fire on each: the audit trigger would record
// every row as a new INSERT, and on a worker it fails outright while audit_log has no table there
// yet ("relation audit_log does not exist"). The rows move, nobody writes them: the tables' own
// triggers are set aside for the copy and come back after, on the converted tables (and so, on a
// cluster, on every shard), in the state they were in.
async function withTriggersSetAside(db: Kysely<any>, convert: () => Promise<void>): Promise<void> {
  const { rows: triggers } = await sql<{ table: string; name: string; definition: string; enabled: string }>`
    select c.relname as table, t.tgname as name, pg_get_triggerdef(t.oid) as definition, t.tgenabled as enabled
    from pg_trigger t join pg_class c on c.oid = t.tgrelid
    where not t.tgisinternal and t.tgparentid = 0 and c.relnamespace = 'public'::regnamespace
      and c.relname = any(${[...referenceTables, ...tenantTables]})
    order by c.relname, t.tgname`.execute(db);
  for (const trigger of triggers) await sql`DROP TRIGGER ${sql.id(trigger.name)} ON ${sql.table(trigger.table)}`.execute(db);
  await convert();
  const state: Record<string, string> = { D: 'DISABLE TRIGGER', R: 'ENABLE REPLICA TRIGGER', A: 'ENABLE ALWAYS TRIGGER' };
  for (const trigger of triggers) {
    await sql.raw(trigger.definition).execute(db);
    const change = state[trigger.enabled];
    if (change) await sql`ALTER TABLE ${sql.table(trigger.table)} ${sql.raw(change)} ${sql.id(trigger.name)}`.execute(db);
  }
}

async function setDatabaseOption(db: Kysely<any>, statement: string): Promise<void> {
  await sql`DO $$ BEGIN EXECUTE format(${sql.lit(statement)}, current_database()); END $$`.execute(db);
}

// undistribute_table refuses a table with an identity column, and Citus refuses DROP IDENTITY on a
// distributed table. So the identity is dropped from the coordinator's table alone (the shards
// carry none and go with the conversion), and comes back on the local table, continuing from where
// the old sequence stood, or past the highest id if rows came in with ids from elsewhere.
interface Identity { table: string; column: string; kind: 'a' | 'd'; next: string | null }

async function dropIdentities(db: Kysely<any>): Promise<Identity[]> {
  const { rows } = await sql<Identity>`
    select c.relname as table, a.attname as column, a.attidentity as kind,
      pg_sequence_last_value(pg_get_serial_sequence(format('%I', c.relname), a.attname)::regclass)::text as next
    from pg_attribute a join pg_class c on c.oid = a.attrelid
    where c.relname = any(${[...tenantTables, ...referenceTables]}) and c.relnamespace = 'public'::regnamespace
      and a.attidentity <> '' and not a.attisdropped
    order by c.relname`.execute(db);
  await sql`set local citus.enable_ddl_propagation = off`.execute(db);
  for (const { table, column } of rows) await sql`ALTER TABLE ${sql.table(table)} ALTER COLUMN ${sql.id(column)} DROP IDENTITY`.execute(db);
  await sql`set local citus.enable_ddl_propagation = on`.execute(db);
  return rows;
}

async function restoreIdentities(db: Kysely<any>, identities: readonly Identity[]): Promise<void> {
  for (const { table, column, kind, next } of identities) {
    await sql`ALTER TABLE ${sql.table(table)} ALTER COLUMN ${sql.id(column)}
      ADD GENERATED ${sql.raw(kind === 'a' ? 'ALWAYS' : 'BY DEFAULT')} AS IDENTITY`.execute(db);
    const { rows: [highest] } = await sql<{ max: string | null }>`select max(${sql.id(column)})::text as max from ${sql.table(table)}`.execute(db);
    const last = [next, highest?.max].filter((value): value is string => value !== null && value !== undefined)
      .map(BigInt).reduce((a, b) => (a > b ? a : b), 0n);
    if (last > 0n) await sql`select setval(pg_get_serial_sequence(${table}, ${column}), ${String(last)}::bigint)`.execute(db);
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  if (!(await hasCitus(db))) return;
  // One transaction: the conversions must run their shard commands over one connection per node.
  await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
  await sql`set local citus.enable_unsafe_triggers = on`.execute(db);
  // Triggers on distributed tables (audit, change history, active days) run on the workers; the
  // transaction-local tenant and actor reach them only when SET LOCAL is propagated.
  await setDatabaseOption(db, 'ALTER DATABASE %I SET citus.enable_unsafe_triggers = on');
  await setDatabaseOption(db, "ALTER DATABASE %I SET citus.propagate_set_commands = 'local'");
  // Citus opens its connections to the workers as the current role, so the application role logs in.
  await sql`ALTER ROLE strata_app LOGIN`.execute(db);
  const setNull = new Map(setNullKeys.map((key) => [key.constraint, key]));
  for (const trigger of activeDayTriggers) {
    await sql`DROP TRIGGER ${sql.id(trigger.name)} ON ${sql.table(trigger.definition.split(' ')[3]!)}`.execute(db);
  }
  await withForeignKeysDropped(db, (definition) => definition.replace(/ ON DELETE SET NULL \([a-z_]+\)/, ''), () => withTriggersSetAside(db, async () => {
    for (const table of referenceTables) await sql`select create_reference_table(${table})`.execute(db);
    const [first, ...rest] = tenantTables;
    await sql`select create_distributed_table(${first}, 'tenant_id')`.execute(db);
    for (const table of rest) await sql`select create_distributed_table(${table}, 'tenant_id', colocate_with => ${first})`.execute(db);
  }));
  await rewriteAuditTableName(db, 'VALUES (row_tenant, TG_TABLE_NAME,', `VALUES (row_tenant, ${shardTableName},`);
  await sql`ALTER TABLE active_user_day
    ADD CONSTRAINT active_user_day_run_exists FOREIGN KEY (etl_run_id) REFERENCES etl_run (id)`.execute(db);
  await sql`ALTER TABLE active_user_day ADD CONSTRAINT active_user_day_user_exists FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE`.execute(db);
  for (const key of setNull.values()) {
    await sql`
      CREATE FUNCTION ${sql.id(key.trigger)}() RETURNS trigger LANGUAGE plpgsql AS ${sql.lit(`BEGIN
        UPDATE ${key.table} SET ${key.column} = NULL WHERE tenant_id = OLD.tenant_id AND ${key.column} = OLD.id;
        RETURN OLD;
      END`)}`.execute(db);
    await sql`CREATE TRIGGER ${sql.id(key.trigger)} BEFORE DELETE ON ${sql.table(key.parent)}
        FOR EACH ROW EXECUTE FUNCTION ${sql.id(key.trigger)}()`.execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  if (!(await hasCitus(db))) return;
  await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
  for (const key of setNullKeys) {
    await sql`DROP TRIGGER ${sql.id(key.trigger)} ON ${sql.table(key.parent)}`.execute(db);
    await sql`DROP FUNCTION ${sql.id(key.trigger)}()`.execute(db);
  }
  await rewriteAuditTableName(db, `VALUES (row_tenant, ${shardTableName},`, 'VALUES (row_tenant, TG_TABLE_NAME,');
  await sql`ALTER TABLE active_user_day DROP CONSTRAINT active_user_day_run_exists`.execute(db);
  await sql`ALTER TABLE active_user_day DROP CONSTRAINT active_user_day_user_exists`.execute(db);
  const setNull = new Map(setNullKeys.map((key) => [key.constraint, key]));
  const identities = await dropIdentities(db);
  await withForeignKeysDropped(db, (definition) => definition, () => withTriggersSetAside(db, async () => {
    for (const table of [...tenantTables].reverse()) await sql`select undistribute_table(${table})`.execute(db);
    for (const table of referenceTables) await sql`select undistribute_table(${table})`.execute(db);
  }));
  await restoreIdentities(db, identities);
  for (const key of setNull.values()) {
    await sql`alter table ${sql.table(key.table)} drop constraint ${sql.id(key.constraint)}`.execute(db);
    await sql`alter table ${sql.table(key.table)} add constraint ${sql.id(key.constraint)} foreign key (tenant_id, ${sql.id(key.column)})
      references ${sql.table(key.parent)} (tenant_id, id) on delete set null (${sql.id(key.column)})`.execute(db);
  }
  for (const trigger of activeDayTriggers) await sql`CREATE TRIGGER ${sql.id(trigger.name)} ${sql.raw(trigger.definition)}`.execute(db);
  await setDatabaseOption(db, 'ALTER DATABASE %I RESET citus.propagate_set_commands');
  await setDatabaseOption(db, 'ALTER DATABASE %I RESET citus.enable_unsafe_triggers');
  // The role stays able to log in: roles are cluster-wide, and other databases may rely on it.
}
