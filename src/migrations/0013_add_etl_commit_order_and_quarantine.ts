import { sql, type Kysely } from 'kysely';
import { IrreversibleMigrationError } from '../errors.js';

// An identity id is taken at insert time, not at commit: a transaction holding id 10 can commit after
// id 11 was extracted, so a watermark on id alone would skip it forever. Every row now records the
// transaction that wrote it; a run reads the transactions below pg_snapshot_xmin (all finished),
// so nothing can still appear behind its watermark.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- A constant default first: existing rows get 0 ("committed before the key existed") without a
    -- table rewrite; only then do new rows take the inserting transaction's id.
    ALTER TABLE user_activity ADD COLUMN ingest_xid xid8 NOT NULL DEFAULT '0';
    ALTER TABLE user_activity ALTER COLUMN ingest_xid SET DEFAULT pg_current_xact_id();
    CREATE INDEX user_activity_ingest_xid_id_idx ON user_activity (ingest_xid, id);

    ALTER TABLE event ADD COLUMN ingest_xid xid8 NOT NULL DEFAULT '0';
    ALTER TABLE event ALTER COLUMN ingest_xid SET DEFAULT pg_current_xact_id();
    CREATE INDEX event_ingest_xid_id_idx ON event (ingest_xid, id);

    -- A run covers the rows written by transactions in [xid_from, xid_to).
    ALTER TABLE etl_run
      ADD COLUMN mode text NOT NULL DEFAULT 'incremental' CONSTRAINT etl_run_mode_known CHECK (mode IN ('incremental', 'backfill')),
      ADD COLUMN xid_from xid8 NOT NULL DEFAULT '0',
      ADD COLUMN xid_to xid8 NOT NULL DEFAULT '0',
      ADD CONSTRAINT etl_run_xids_ordered CHECK (xid_to >= xid_from);
    -- Each incremental run starts where the last succeeded one ended, so two succeeded runs starting
    -- at the same point would be one batch applied twice: the database refuses the second.
    CREATE UNIQUE INDEX etl_run_incremental_chain_key ON etl_run (pipeline, xid_from)
      WHERE status = 'succeeded' AND mode = 'incremental';

    -- Source rows a run refused, with the reason; later runs skip them instead of failing forever.
    -- Tenant-owned (it holds the tenant's rows), so tenant-first and under the tenant policy like
    -- every other tenant table; the application may read its own, only the pipeline writes.
    CREATE TABLE etl_quarantine (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      source text NOT NULL CONSTRAINT etl_quarantine_source_known CHECK (source IN ('user_activity', 'event')),
      source_id bigint NOT NULL,
      etl_run_id bigint NOT NULL REFERENCES etl_run (id),
      reason text NOT NULL,
      row_data jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT etl_quarantine_source_row_key UNIQUE (tenant_id, source, source_id)
    );
    ALTER TABLE etl_quarantine ENABLE ROW LEVEL SECURITY;
    ALTER TABLE etl_quarantine FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON etl_quarantine
      USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)
      WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint);
    GRANT SELECT ON etl_quarantine TO strata_app;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  // Loaded metrics count rows by these keys. Without them every row would read as unprocessed
  // after the next up, and the next run would count it a second time.
  const { rows } = await sql<{ loaded: boolean }>`select exists (select 1 from etl_run where status = 'succeeded') as loaded`.execute(db);
  if (rows[0]?.loaded) {
    throw new IrreversibleMigrationError('0013_add_etl_commit_order_and_quarantine', 'analytics have been loaded by commit key; '
      + 'delete the rows of report, metric, active_user_day, etl_quarantine and etl_run first (the next run rebuilds them)');
  }
  await sql`
    REVOKE ALL ON etl_quarantine FROM strata_app;
    DROP TABLE etl_quarantine;
    DROP INDEX etl_run_incremental_chain_key;
    ALTER TABLE etl_run DROP CONSTRAINT etl_run_xids_ordered, DROP COLUMN xid_to, DROP COLUMN xid_from, DROP COLUMN mode;
    DROP INDEX event_ingest_xid_id_idx;
    ALTER TABLE event DROP COLUMN ingest_xid;
    DROP INDEX user_activity_ingest_xid_id_idx;
    ALTER TABLE user_activity DROP COLUMN ingest_xid;
  `.execute(db);
}
