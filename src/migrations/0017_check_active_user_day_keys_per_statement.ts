import { sql, type Kysely } from 'kysely';

// The two foreign keys of active_user_day checked each inserted row on its own: of 7.8 s to load
// 768k user days, 5.1 s went to those checks (to app_user and to etl_run, about half each). These
// statement-level triggers keep the same rules, checked once per statement over its transition
// table: 0.3 s for the same load. Like the checks they replace, they run as the table owner (RI
// queries ignore row-level security; the keys are composite, so a row still cannot name another
// tenant's user) and take FOR KEY SHARE on every user and run they find, so that none of them can
// be deleted before the writing transaction ends.
//
// The cascade sees what its statement's snapshot sees. In READ COMMITTED (every delete in Strata:
// API, CLI, tenant deletion) that is every run committed before it, the run's lock having made the
// delete wait. In REPEATABLE READ or SERIALIZABLE the snapshot is the transaction's, and days a run
// committed after it would stay behind, where the foreign key's cascade could look past the
// snapshot and fail with a serialization error. A plpgsql trigger cannot look past it, so there a
// user delete is refused outright (0A000): never a silent orphan.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION active_user_day_check_keys() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      users bigint;
      users_locked bigint;
      runs bigint;
      runs_locked bigint;
      missing text;
    BEGIN
      -- One pass over the statement's rows; locking counts only the keys that exist.
      WITH keys AS MATERIALIZED (SELECT DISTINCT tenant_id, user_id, etl_run_id FROM new_rows)
      SELECT (SELECT count(DISTINCT (tenant_id, user_id)) FROM keys),
        (SELECT count(*) FROM (SELECT 1 FROM app_user u WHERE (u.tenant_id, u.id) IN (SELECT tenant_id, user_id FROM keys)
          FOR KEY SHARE OF u) AS found),
        (SELECT count(DISTINCT etl_run_id) FROM keys),
        (SELECT count(*) FROM (SELECT 1 FROM etl_run r WHERE r.id IN (SELECT etl_run_id FROM keys) FOR KEY SHARE OF r) AS found)
      INTO users, users_locked, runs, runs_locked;
      IF users_locked < users THEN
        SELECT format('(%s, %s)', n.tenant_id, n.user_id) INTO missing FROM new_rows n
          WHERE NOT EXISTS (SELECT 1 FROM app_user u WHERE u.tenant_id = n.tenant_id AND u.id = n.user_id) LIMIT 1;
        RAISE foreign_key_violation USING TABLE = 'active_user_day', CONSTRAINT = 'active_user_day_user_exists',
          MESSAGE = 'an active user day must name a user of its tenant',
          DETAIL = format('Key (tenant_id, user_id)=%s is not present in table "app_user".', coalesce(missing, '(deleted meanwhile)'));
      END IF;
      IF runs_locked < runs THEN
        SELECT n.etl_run_id::text INTO missing FROM new_rows n
          WHERE NOT EXISTS (SELECT 1 FROM etl_run r WHERE r.id = n.etl_run_id) LIMIT 1;
        RAISE foreign_key_violation USING TABLE = 'active_user_day', CONSTRAINT = 'active_user_day_run_exists',
          MESSAGE = 'an active user day must name the run that loaded it',
          DETAIL = format('Key (etl_run_id)=(%s) is not present in table "etl_run".', coalesce(missing, 'deleted meanwhile'));
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER active_user_day_insert_keys AFTER INSERT ON active_user_day
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION active_user_day_check_keys();
    CREATE TRIGGER active_user_day_update_keys AFTER UPDATE ON active_user_day
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION active_user_day_check_keys();

    -- ON DELETE CASCADE: a deleted user's active days go with them. An update that takes a key
    -- away from its active days is refused, as the key's NO ACTION did.
    CREATE FUNCTION app_user_cascade_active_days() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      moved text;
    BEGIN
      IF TG_OP = 'DELETE' THEN
        IF current_setting('transaction_isolation') <> 'read committed' THEN
          RAISE feature_not_supported USING TABLE = 'app_user',
            MESSAGE = 'users are deleted in READ COMMITTED transactions only',
            DETAIL = format('A %s snapshot may miss active user days committed after it.', current_setting('transaction_isolation'));
        END IF;
        DELETE FROM active_user_day a USING old_users o WHERE a.tenant_id = o.tenant_id AND a.user_id = o.id;
        RETURN NULL;
      END IF;
      SELECT format('(%s, %s)', o.tenant_id, o.id) INTO moved FROM old_users o
        WHERE NOT EXISTS (SELECT 1 FROM app_user u WHERE u.tenant_id = o.tenant_id AND u.id = o.id)
          AND EXISTS (SELECT 1 FROM active_user_day a WHERE a.tenant_id = o.tenant_id AND a.user_id = o.id)
        LIMIT 1;
      IF moved IS NOT NULL THEN
        RAISE foreign_key_violation USING TABLE = 'app_user', CONSTRAINT = 'active_user_day_user_exists',
          MESSAGE = 'a user with active days cannot change its key',
          DETAIL = format('Key (tenant_id, id)=%s is still referenced from table "active_user_day".', moved);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER app_user_delete_active_days AFTER DELETE ON app_user
      REFERENCING OLD TABLE AS old_users FOR EACH STATEMENT EXECUTE FUNCTION app_user_cascade_active_days();
    CREATE TRIGGER app_user_update_active_days AFTER UPDATE ON app_user
      REFERENCING OLD TABLE AS old_users FOR EACH STATEMENT EXECUTE FUNCTION app_user_cascade_active_days();

    -- A run that active days name cannot be deleted or renumbered. Nothing indexes etl_run_id (the
    -- load would pay for it); runs are deleted by hand, if ever, and a statement scans once.
    CREATE FUNCTION etl_run_keep_named_runs() RETURNS trigger LANGUAGE plpgsql
    SECURITY DEFINER SET search_path = public, pg_temp AS $$
    DECLARE
      gone bigint[];
      named bigint;
    BEGIN
      SELECT array_agg(o.id) INTO gone FROM old_runs o WHERE NOT EXISTS (SELECT 1 FROM etl_run r WHERE r.id = o.id);
      IF gone IS NULL THEN
        RETURN NULL;
      END IF;
      SELECT a.etl_run_id INTO named FROM active_user_day a WHERE a.etl_run_id = ANY (gone) LIMIT 1;
      IF named IS NOT NULL THEN
        RAISE foreign_key_violation USING TABLE = 'etl_run', CONSTRAINT = 'active_user_day_run_exists',
          MESSAGE = 'a run that active user days name cannot be removed',
          DETAIL = format('Key (id)=(%s) is still referenced from table "active_user_day".', named);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER etl_run_delete_named_runs AFTER DELETE ON etl_run
      REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION etl_run_keep_named_runs();
    CREATE TRIGGER etl_run_update_named_runs AFTER UPDATE ON etl_run
      REFERENCING OLD TABLE AS old_runs FOR EACH STATEMENT EXECUTE FUNCTION etl_run_keep_named_runs();

    ALTER TABLE active_user_day
      DROP CONSTRAINT active_user_day_etl_run_id_fkey,
      DROP CONSTRAINT active_user_day_tenant_id_user_id_fkey;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Adding the keys back validates every row: it fails, changing nothing, if one names a user or run that is gone.
  await sql`
    ALTER TABLE active_user_day
      ADD CONSTRAINT active_user_day_etl_run_id_fkey FOREIGN KEY (etl_run_id) REFERENCES etl_run (id),
      ADD CONSTRAINT active_user_day_tenant_id_user_id_fkey FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE;
    DROP TRIGGER etl_run_update_named_runs ON etl_run;
    DROP TRIGGER etl_run_delete_named_runs ON etl_run;
    DROP FUNCTION etl_run_keep_named_runs();
    DROP TRIGGER app_user_update_active_days ON app_user;
    DROP TRIGGER app_user_delete_active_days ON app_user;
    DROP FUNCTION app_user_cascade_active_days();
    DROP TRIGGER active_user_day_update_keys ON active_user_day;
    DROP TRIGGER active_user_day_insert_keys ON active_user_day;
    DROP FUNCTION active_user_day_check_keys();
  `.execute(db);
}
