import { sql, type Kysely } from 'kysely';

// Cache invalidation that commits with the write. A cached value is tagged with the versions of
// the scopes it depends on; every write to a cache-visible table bumps them in its own transaction
// and NOTIFYs them, so the invalidation lands exactly when the write commits: a writer killed after
// its commit, or cut off from Redis, has already invalidated. Scopes read as the cache's version
// keys do: `<tenant>`, `<tenant>:sessions`, `<tenant>:user:<id>`, `<tenant>:analytics`.
//
// Versions come from one sequence, so they only grow and never repeat. Statement-level triggers:
// a bulk statement bumps each scope once, and rows that go with their tenant (its delete cascades)
// bump nothing, the tenant's own scope covering them. Scopes are locked in sorted order.
// On a Citus cluster the triggers would run on the workers, beside the shards: a NOTIFY there
// never reaches an instance listening on the coordinator, and the version table lives on the
// coordinator alone. There the triggers are not installed; the versions stay put and caches are
// invalidated after commit through Redis (the README says which faults that leaves open).
async function hasCitus(db: Kysely<any>): Promise<boolean> {
  const { rows } = await sql<{ citus: boolean }>`select exists (select 1 from pg_extension where extname = 'citus') as citus`.execute(db);
  return rows[0]?.citus ?? false;
}

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE cache_version (
      scope text COLLATE "C" PRIMARY KEY,
      version bigint NOT NULL
    );
    CREATE SEQUENCE cache_version_seq AS bigint;

    CREATE FUNCTION cache_version_bump(scopes text[]) RETURNS void LANGUAGE plpgsql
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
    END $$;

    CREATE FUNCTION cache_version_user_rows() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM cache_version_bump(array_agg(o.tenant_id || ':user:' || o.user_id))
          FROM old_rows o WHERE EXISTS (SELECT 1 FROM tenant t WHERE t.id = o.tenant_id);
      ELSE
        PERFORM cache_version_bump(array_agg(n.tenant_id || ':user:' || n.user_id)) FROM new_rows n;
      END IF;
      RETURN NULL;
    END $$;

    -- A deleted user's active days go with it: the tenant's analytics change too.
    CREATE FUNCTION cache_version_app_user() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        PERFORM cache_version_bump(array_agg(o.tenant_id || ':user:' || o.id) || array_agg(o.tenant_id || ':analytics'))
          FROM old_rows o WHERE EXISTS (SELECT 1 FROM tenant t WHERE t.id = o.tenant_id);
      ELSE
        PERFORM cache_version_bump(array_agg(n.tenant_id || ':user:' || n.id)) FROM new_rows n;
      END IF;
      RETURN NULL;
    END $$;

    -- Every request refreshes last_used_at at most once a minute; that alone changes no principal.
    CREATE FUNCTION cache_version_api_key() RETURNS trigger LANGUAGE plpgsql
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
    END $$;

    -- A deleted tenant's scopes are forgotten, but its own version is bumped, never dropped.
    CREATE FUNCTION cache_version_tenant() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        DELETE FROM cache_version c USING old_rows o WHERE c.scope >= o.id || ':' AND c.scope < o.id || ';';
        PERFORM cache_version_bump(array_agg(o.id::text)) FROM old_rows o;
      ELSE
        PERFORM cache_version_bump(array_agg(n.id::text)) FROM new_rows n;
      END IF;
      RETURN NULL;
    END $$;

  `.execute(db);
  if (await hasCitus(db)) return;
  await sql`
    CREATE TRIGGER cache_version_insert AFTER INSERT ON profile
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows();
    CREATE TRIGGER cache_version_update AFTER UPDATE ON profile
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows();
    CREATE TRIGGER cache_version_delete AFTER DELETE ON profile
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows();
    CREATE TRIGGER cache_version_insert AFTER INSERT ON user_settings
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows();
    CREATE TRIGGER cache_version_update AFTER UPDATE ON user_settings
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows();
    CREATE TRIGGER cache_version_delete AFTER DELETE ON user_settings
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_user_rows();
    CREATE TRIGGER cache_version_update AFTER UPDATE ON app_user
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_app_user();
    CREATE TRIGGER cache_version_delete AFTER DELETE ON app_user
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_app_user();
    CREATE TRIGGER cache_version_update AFTER UPDATE ON api_key
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_api_key();
    CREATE TRIGGER cache_version_delete AFTER DELETE ON api_key
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_api_key();
    CREATE TRIGGER cache_version_update AFTER UPDATE ON tenant
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_tenant();
    CREATE TRIGGER cache_version_delete AFTER DELETE ON tenant
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION cache_version_tenant();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TRIGGER IF EXISTS cache_version_delete ON tenant;
    DROP TRIGGER IF EXISTS cache_version_update ON tenant;
    DROP TRIGGER IF EXISTS cache_version_delete ON api_key;
    DROP TRIGGER IF EXISTS cache_version_update ON api_key;
    DROP TRIGGER IF EXISTS cache_version_delete ON app_user;
    DROP TRIGGER IF EXISTS cache_version_update ON app_user;
    DROP TRIGGER IF EXISTS cache_version_delete ON user_settings;
    DROP TRIGGER IF EXISTS cache_version_update ON user_settings;
    DROP TRIGGER IF EXISTS cache_version_insert ON user_settings;
    DROP TRIGGER IF EXISTS cache_version_delete ON profile;
    DROP TRIGGER IF EXISTS cache_version_update ON profile;
    DROP TRIGGER IF EXISTS cache_version_insert ON profile;
    DROP FUNCTION cache_version_tenant();
    DROP FUNCTION cache_version_api_key();
    DROP FUNCTION cache_version_app_user();
    DROP FUNCTION cache_version_user_rows();
    DROP FUNCTION cache_version_bump(text[]);
    DROP SEQUENCE cache_version_seq;
    DROP TABLE cache_version;
  `.execute(db);
}
