import { sql, type Kysely } from 'kysely';

// A retried ingest batch carries the same Idempotency-Key: the first response is stored with the
// key in the batch's own transaction, so a batch is applied once and a retry gets the same answer.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE idempotency_key (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      scope text NOT NULL,
      key text NOT NULL CONSTRAINT idempotency_key_length CHECK (length(key) BETWEEN 1 AND 200),
      request_hash text NOT NULL,
      status_code integer,
      response jsonb,
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, scope, key)
    );
    CREATE INDEX idempotency_key_created_idx ON idempotency_key (created_at);
    ALTER TABLE idempotency_key ENABLE ROW LEVEL SECURITY;
    ALTER TABLE idempotency_key FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON idempotency_key
      USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint)
      WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::bigint);
    GRANT SELECT, INSERT, UPDATE, DELETE ON idempotency_key TO strata_app;
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`REVOKE ALL ON idempotency_key FROM strata_app; DROP TABLE idempotency_key;`.execute(db);
}
