import { sql, type Kysely } from 'kysely';

// Roles are cluster-wide and may serve other Strata databases on the same server, so `down`
// revokes what this database granted and leaves the role itself in place.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    DO $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'strata_app') THEN
        CREATE ROLE strata_app NOLOGIN NOBYPASSRLS;
      END IF;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN
      NULL; -- another database migrating at the same moment created it
    END $$;
    DO $$
    BEGIN
      -- A non-superuser owner must be a member to SET ROLE strata_app inside withTenant().
      IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT strata_app TO %I', current_user);
      END IF;
    END $$;
    GRANT USAGE ON SCHEMA public TO strata_app;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`REVOKE USAGE ON SCHEMA public FROM strata_app`.execute(db);
}
