import { sql, type Kysely } from 'kysely';

// table → the columns that name one entity of it (joined with ':' in audit_log.entity_id)
const audited: Record<string, string[]> = {
  api_key: ['id'],
  app_user: ['id'],
  profile: ['user_id'],
  user_settings: ['user_id'],
  organization: ['id'],
  team: ['id'],
  membership: ['team_id', 'user_id'],
  project: ['id'],
  project_member: ['project_id', 'user_id'],
  product: ['id'],
  inventory: ['product_id'],
};

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE audit_log (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      table_name text NOT NULL,
      entity_id text NOT NULL,
      action text NOT NULL CONSTRAINT audit_log_action_known CHECK (action IN ('INSERT', 'UPDATE', 'DELETE')),
      actor_id bigint,
      changed_fields text[] NOT NULL DEFAULT '{}',
      transaction_id bigint NOT NULL DEFAULT txid_current(),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id)
    );
    CREATE INDEX audit_log_entity_idx ON audit_log (tenant_id, table_name, entity_id, id DESC);

    CREATE TABLE change_history (
      tenant_id bigint NOT NULL,
      audit_id bigint NOT NULL,
      field text NOT NULL,
      old_value jsonb,
      new_value jsonb,
      PRIMARY KEY (tenant_id, audit_id, field),
      FOREIGN KEY (tenant_id, audit_id) REFERENCES audit_log (tenant_id, id) ON DELETE CASCADE
    );

    -- Runs as the invoking role (not SECURITY DEFINER), so audit rows pass the same tenant policy
    -- as the write that caused them. The actor comes from app.actor_id, set by withTenant().
    CREATE FUNCTION audit_row_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
      new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
      row_data jsonb := coalesce(new_row, old_row);
      row_tenant bigint := (row_data ->> 'tenant_id')::bigint;
      entity text;
      fields text[];
      new_audit_id bigint;
    BEGIN
      -- Rows removed by a tenant's own deletion leave no trail: it would point at a deleted tenant.
      IF NOT EXISTS (SELECT 1 FROM tenant WHERE tenant.id = row_tenant) THEN
        RETURN NULL;
      END IF;
      SELECT string_agg(row_data ->> key_column, ':' ORDER BY position) INTO entity
        FROM unnest(TG_ARGV) WITH ORDINALITY AS key_columns(key_column, position);
      SELECT coalesce(array_agg(field ORDER BY field), '{}') INTO fields
        FROM jsonb_object_keys(row_data) AS field
        WHERE field NOT IN ('search', 'updated_at', 'key_hash', 'last_used_at')
          AND (old_row -> field) IS DISTINCT FROM (new_row -> field);
      IF TG_OP = 'UPDATE' AND cardinality(fields) = 0 THEN
        RETURN NULL;
      END IF;
      INSERT INTO audit_log (tenant_id, table_name, entity_id, action, actor_id, changed_fields)
        VALUES (row_tenant, TG_TABLE_NAME, entity, TG_OP,
                nullif(current_setting('app.actor_id', true), '')::bigint, fields)
        RETURNING id INTO new_audit_id;
      INSERT INTO change_history (tenant_id, audit_id, field, old_value, new_value)
        SELECT row_tenant, new_audit_id, field, old_row -> field, new_row -> field FROM unnest(fields) AS field;
      RETURN NULL;
    END $$;
  `.execute(db);
  for (const [table, keys] of Object.entries(audited)) {
    const args = keys.map((key) => `'${key}'`).join(', ');
    await sql.raw(`CREATE TRIGGER ${table}_audit AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION audit_row_change(${args})`).execute(db);
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of Object.keys(audited)) {
    await sql.raw(`DROP TRIGGER ${table}_audit ON ${table}`).execute(db);
  }
  await sql`DROP FUNCTION audit_row_change(); DROP TABLE change_history; DROP TABLE audit_log;`.execute(db);
}
