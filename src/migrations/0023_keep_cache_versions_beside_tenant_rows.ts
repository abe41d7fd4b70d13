import { sql, type Kysely } from 'kysely';

// Cache versions keyed by tenant, so that on a Citus cluster they live beside the tenant's rows.
//
// 0019 bumps a scope's version in the writing transaction and NOTIFYs it at commit; on a cluster it
// installed no trigger. There the rows live on a worker, and a version kept on the coordinator could
// be heard before the worker's COMMIT PREPARED made the row visible (a reader would store the old row
// under the new version). Bumping on the worker cannot NOTIFY either: PostgreSQL refuses to PREPARE a
// transaction that has notified, so every two-phase commit (a statement over tenants on two workers,
// any change to the `tenant` reference table, a tenant's delete) would fail.
//
// So `cache_version` gains `tenant_id`, which now leads its key, and `xid`, the transaction that last
// bumped the row on the node that stores it. On a single server that is all: the sequence, the
// NOTIFY and the triggers work as 0019 made them (the columns exist there too, because the generated
// row types are one file for both kinds of server). On a cluster the table is distributed by
// tenant_id, colocated with app_user: a tenant's versions sit in its shard group, on the worker that
// holds its rows, and 0019's triggers, installed at last, bump them in the worker's own part of the
// writing transaction, so version and row commit together, in one- or two-phase commit alike.
// Nothing is notified: every instance polls each node with cache_version_changes(), which returns
// the versions bumped by transactions that were still running at the previous poll.

const tables = ['profile', 'user_settings', 'app_user', 'api_key', 'tenant'] as const;

// 0019's triggers, which that migration skipped on a cluster.
const triggers = [
  ['cache_version_insert', 'AFTER INSERT ON profile REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows()'],
  ['cache_version_update', 'AFTER UPDATE ON profile REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows()'],
  ['cache_version_delete', 'AFTER DELETE ON profile REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows()'],
  ['cache_version_insert', 'AFTER INSERT ON user_settings REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows()'],
  ['cache_version_update', 'AFTER UPDATE ON user_settings REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows()'],
  ['cache_version_delete', 'AFTER DELETE ON user_settings REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows()'],
  ['cache_version_update', 'AFTER UPDATE ON app_user REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_app_user()'],
  ['cache_version_delete', 'AFTER DELETE ON app_user REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_app_user()'],
  ['cache_version_update', 'AFTER UPDATE ON api_key REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_api_key()'],
  ['cache_version_delete', 'AFTER DELETE ON api_key REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_api_key()'],
  ['cache_version_update', 'AFTER UPDATE ON tenant REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_tenant()'],
  ['cache_version_delete', 'AFTER DELETE ON tenant REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_tenant()'],
] as const;

const header = `LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS`;

// A single server: 0019's bump and tenant functions, filling the new columns.
const serverFunctions = [`
CREATE OR REPLACE FUNCTION cache_version_bump(scopes text[]) RETURNS void ${header} $$
DECLARE
  notified bigint;
BEGIN
  -- One notification per scope: a payload is limited to 8000 bytes.
  WITH bumped AS (
    INSERT INTO cache_version (tenant_id, scope, version, xid)
    SELECT split_part(scope, ':', 1)::bigint, scope, nextval('cache_version_seq'), pg_current_xact_id()
    FROM (SELECT DISTINCT unnest(scopes) AS scope) s ORDER BY scope
    ON CONFLICT (tenant_id, scope) DO UPDATE SET version = excluded.version, xid = excluded.xid
    RETURNING scope, version)
  SELECT count(pg_notify('strata_cache', scope || ' ' || version)) INTO notified FROM bumped;
END $$`, `
CREATE OR REPLACE FUNCTION cache_version_tenant() RETURNS trigger ${header} $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM cache_version c USING old_rows o WHERE c.tenant_id = o.id AND c.scope <> o.id::text;
    PERFORM cache_version_bump(array_agg(o.id::text)) FROM old_rows o;
  ELSE
    PERFORM cache_version_bump(array_agg(n.id::text)) FROM new_rows n;
  END IF;
  RETURN NULL;
END $$`];

// A cluster. Each function runs on a shard, on the worker. Citus cannot plan a query that joins a
// transition table with one of its tables ("unrecognized RTE kind"), so scopes and live tenants are
// gathered into variables first. A deleted tenant's rows bump nothing (its own scope covers them):
// during its delete, `tenant` is read from this node's copy, where the row is already gone.
const clusterFunctions = [`
CREATE OR REPLACE FUNCTION cache_version_bump(scopes text[]) RETURNS void ${header} $$
DECLARE
  bumped text;
BEGIN
  -- One routed statement per scope, in sorted order: Citus runs it on this node's shard of the
  -- tenant's group, inside this transaction. A scope counts its own bumps: a sequence is per node,
  -- so after a shard moves its next value could be lower than the versions that moved with it.
  FOR bumped IN SELECT DISTINCT s FROM unnest(scopes) s WHERE s IS NOT NULL ORDER BY 1 LOOP
    INSERT INTO cache_version AS c (tenant_id, scope, version, xid)
    VALUES (split_part(bumped, ':', 1)::bigint, bumped, 1, pg_current_xact_id())
    ON CONFLICT (tenant_id, scope) DO UPDATE SET version = c.version + 1, xid = excluded.xid;
  END LOOP;
END $$`, `
CREATE OR REPLACE FUNCTION cache_version_user_rows() RETURNS trigger ${header} $$
DECLARE
  live bigint[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    live := ARRAY(SELECT DISTINCT o.tenant_id FROM old_rows o);
    live := ARRAY(SELECT t.id FROM tenant t WHERE t.id = ANY (live));
    PERFORM cache_version_bump(ARRAY(SELECT o.tenant_id || ':user:' || o.user_id FROM old_rows o WHERE o.tenant_id = ANY (live)));
  ELSE
    PERFORM cache_version_bump(ARRAY(SELECT n.tenant_id || ':user:' || n.user_id FROM new_rows n));
  END IF;
  RETURN NULL;
END $$`, `
CREATE OR REPLACE FUNCTION cache_version_app_user() RETURNS trigger ${header} $$
DECLARE
  live bigint[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    live := ARRAY(SELECT DISTINCT o.tenant_id FROM old_rows o);
    live := ARRAY(SELECT t.id FROM tenant t WHERE t.id = ANY (live));
    PERFORM cache_version_bump(ARRAY(SELECT o.tenant_id || ':user:' || o.id FROM old_rows o WHERE o.tenant_id = ANY (live))
      || ARRAY(SELECT l || ':analytics' FROM unnest(live) l));
  ELSE
    PERFORM cache_version_bump(ARRAY(SELECT n.tenant_id || ':user:' || n.id FROM new_rows n));
  END IF;
  RETURN NULL;
END $$`, `
CREATE OR REPLACE FUNCTION cache_version_api_key() RETURNS trigger ${header} $$
DECLARE
  live bigint[];
BEGIN
  IF TG_OP = 'DELETE' THEN
    live := ARRAY(SELECT DISTINCT o.tenant_id FROM old_rows o);
    live := ARRAY(SELECT t.id FROM tenant t WHERE t.id = ANY (live));
    PERFORM cache_version_bump(ARRAY(SELECT l || ':sessions' FROM unnest(live) l));
  ELSE
    PERFORM cache_version_bump(ARRAY(SELECT n.tenant_id || ':sessions'
      FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
      WHERE to_jsonb(n) - 'last_used_at' IS DISTINCT FROM to_jsonb(o) - 'last_used_at'));
  END IF;
  RETURN NULL;
END $$`, `
CREATE OR REPLACE FUNCTION cache_version_tenant() RETURNS trigger ${header} $$
DECLARE
  here integer := (SELECT groupid FROM pg_dist_local_group);
  changed bigint[];
  gone bigint;
BEGIN
  -- tenant is a reference table: this fires on every node's copy, and only the node that holds a
  -- tenant's versions (its shard group) acts for it.
  IF TG_OP = 'DELETE' THEN
    changed := ARRAY(SELECT o.id FROM old_rows o);
  ELSE
    changed := ARRAY(SELECT n.id FROM new_rows n);
  END IF;
  changed := ARRAY(SELECT t FROM unnest(changed) t WHERE EXISTS (SELECT 1 FROM pg_dist_placement p
    WHERE p.shardid = get_shard_id_for_distribution_column('cache_version', t) AND p.groupid = here));
  IF TG_OP = 'DELETE' THEN
    FOREACH gone IN ARRAY changed LOOP
      DELETE FROM cache_version WHERE tenant_id = gone AND scope <> gone::text;
    END LOOP;
  END IF;
  PERFORM cache_version_bump(ARRAY(SELECT t::text FROM unnest(changed) t));
  RETURN NULL;
END $$`, `
-- What an instance polls on every node. The horizon is read first: a transaction this call does not
-- see was still running then, so its xid is at least the horizon and the next call, given it, returns
-- its bumps. Only this node's shards are read (by name: through the distributed table Citus would
-- ask every node). The placements of cache_version come back too: when they change (a shard moved or
-- split) a bump may sit where no earlier poll looked, and the instance starts afresh.
CREATE FUNCTION cache_version_changes(since xid8, OUT horizon xid8, OUT placements text, OUT scopes text[], OUT versions bigint[])
LANGUAGE plpgsql SET search_path = public, pg_temp AS $$
DECLARE
  here integer := (SELECT groupid FROM pg_dist_local_group);
  local_shards text;
BEGIN
  horizon := pg_snapshot_xmin(pg_current_snapshot());
  SELECT md5(string_agg(p.shardid || '@' || p.groupid, ',' ORDER BY p.shardid, p.groupid)),
    string_agg(format('SELECT scope, version FROM %s WHERE xid >= $1', shard_name(s.logicalrelid, s.shardid)), ' UNION ALL ')
      FILTER (WHERE p.groupid = here)
  INTO placements, local_shards
  FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid)
  WHERE s.logicalrelid = 'cache_version'::regclass;
  IF since IS NOT NULL AND local_shards IS NOT NULL THEN
    EXECUTE format('SELECT array_agg(scope), array_agg(version) FROM (%s) c', local_shards) INTO scopes, versions USING since;
  END IF;
END $$`];

// 0019's functions as it made them, for down.
const originalFunctions = [`
CREATE OR REPLACE FUNCTION cache_version_bump(scopes text[]) RETURNS void LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      notified bigint;
    BEGIN
      -- One notification per scope: a payload is limited to 8000 bytes.
      WITH bumped AS (
        INSERT INTO cache_version (scope, version)
        SELECT scope, nextval('cache_version_seq') FROM (SELECT DISTINCT unnest(scopes) AS scope) s ORDER BY scope
        ON CONFLICT (scope) DO UPDATE SET version = excluded.version
        RETURNING scope, version)
      SELECT count(pg_notify('strata_cache', scope || ' ' || version)) INTO notified FROM bumped;
    END $$`, `
CREATE OR REPLACE FUNCTION cache_version_user_rows() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM cache_version_bump(array_agg(o.tenant_id || ':user:' || o.user_id))
          FROM old_rows o WHERE EXISTS (SELECT 1 FROM tenant t WHERE t.id = o.tenant_id);
      ELSE
        PERFORM cache_version_bump(array_agg(n.tenant_id || ':user:' || n.user_id)) FROM new_rows n;
      END IF;
      RETURN NULL;
    END $$`, `
CREATE OR REPLACE FUNCTION cache_version_app_user() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM cache_version_bump(array_agg(o.tenant_id || ':user:' || o.id) || array_agg(o.tenant_id || ':analytics'))
          FROM old_rows o WHERE EXISTS (SELECT 1 FROM tenant t WHERE t.id = o.tenant_id);
      ELSE
        PERFORM cache_version_bump(array_agg(n.tenant_id || ':user:' || n.id)) FROM new_rows n;
      END IF;
      RETURN NULL;
    END $$`, `
CREATE OR REPLACE FUNCTION cache_version_api_key() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM cache_version_bump(array_agg(o.tenant_id || ':sessions'))
          FROM old_rows o WHERE EXISTS (SELECT 1 FROM tenant t WHERE t.id = o.tenant_id);
      ELSE
        PERFORM cache_version_bump(array_agg(n.tenant_id || ':sessions'))
          FROM new_rows n JOIN old_rows o ON o.tenant_id = n.tenant_id AND o.id = n.id
          WHERE to_jsonb(n) - 'last_used_at' IS DISTINCT FROM to_jsonb(o) - 'last_used_at';
      END IF;
      RETURN NULL;
    END $$`, `
CREATE OR REPLACE FUNCTION cache_version_tenant() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        DELETE FROM cache_version c USING old_rows o WHERE c.scope >= o.id || ':' AND c.scope < o.id || ';';
        PERFORM cache_version_bump(array_agg(o.id::text)) FROM old_rows o;
      ELSE
        PERFORM cache_version_bump(array_agg(n.id::text)) FROM new_rows n;
      END IF;
      RETURN NULL;
    END $$`];

async function hasCitus(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ citus: boolean }>`select exists (select 1 from pg_extension where extname = 'citus') as citus`.execute(db);
  return rows[0]?.citus ?? false;
}

// One statement per call: Citus refuses a multi-statement string that changes a distributed table.
async function run(db: Kysely<any>, statements: readonly string[]): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  const citus = await hasCitus(db);
  if (citus) {
    await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
    await sql`set local citus.enable_unsafe_triggers = on`.execute(db);
  }
  // Every scope starts with its tenant's id (`<tenant>`, `<tenant>:user:<id>`, ...).
  await run(db, [
    'ALTER TABLE cache_version ADD COLUMN tenant_id bigint, ADD COLUMN xid xid8',
    'UPDATE cache_version SET tenant_id = split_part(scope, \':\', 1)::bigint, xid = pg_current_xact_id()',
    'ALTER TABLE cache_version ALTER COLUMN tenant_id SET NOT NULL, ALTER COLUMN xid SET NOT NULL, DROP CONSTRAINT cache_version_pkey',
    'ALTER TABLE cache_version ADD PRIMARY KEY (tenant_id, scope)',
  ]);
  if (!citus) {
    await run(db, serverFunctions);
    return;
  }
  await sql`select create_distributed_table('cache_version', 'tenant_id', colocate_with => 'app_user')`.execute(db);
  // What a poll reads on each shard: the rows bumped since the last poll's horizon.
  await sql`CREATE INDEX cache_version_xid_idx ON cache_version (xid)`.execute(db);
  await run(db, clusterFunctions);
  for (const [name, definition] of triggers) await sql`CREATE TRIGGER ${sql.id(name)} ${sql.raw(definition)}`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  const citus = await hasCitus(db);
  if (citus) {
    await sql`set local citus.multi_shard_modify_mode = 'sequential'`.execute(db);
    for (const table of tables) {
      for (const name of ['cache_version_insert', 'cache_version_update', 'cache_version_delete']) {
        await sql`DROP TRIGGER IF EXISTS ${sql.id(name)} ON ${sql.table(table)}`.execute(db);
      }
    }
    await sql`DROP FUNCTION cache_version_changes(xid8)`.execute(db);
    await sql`DROP INDEX cache_version_xid_idx`.execute(db);
    await sql`select undistribute_table('cache_version')`.execute(db);
  }
  await run(db, [
    'ALTER TABLE cache_version DROP CONSTRAINT cache_version_pkey',
    'ALTER TABLE cache_version ADD PRIMARY KEY (scope)',
    'ALTER TABLE cache_version DROP COLUMN xid, DROP COLUMN tenant_id',
  ]);
  await run(db, originalFunctions);
}
