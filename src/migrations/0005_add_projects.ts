import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE project (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      organization_id bigint,
      name text NOT NULL CONSTRAINT project_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 200),
      slug text NOT NULL CONSTRAINT project_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
      description text NOT NULL DEFAULT '' CONSTRAINT project_description_length CHECK (length(description) <= 10000),
      status text NOT NULL DEFAULT 'active' CONSTRAINT project_status_known CHECK (status IN ('planned', 'active', 'paused', 'archived')),
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT project_tenant_slug_key UNIQUE (tenant_id, slug),
      -- Deleting an organization keeps its projects; only the link is cleared, never tenant_id.
      FOREIGN KEY (tenant_id, organization_id) REFERENCES organization (tenant_id, id) ON DELETE SET NULL (organization_id)
    );
    CREATE INDEX project_tenant_status_idx ON project (tenant_id, status, id);
    CREATE TRIGGER project_touch BEFORE UPDATE ON project FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

    CREATE TABLE project_member (
      tenant_id bigint NOT NULL,
      project_id bigint NOT NULL,
      user_id bigint NOT NULL,
      role text NOT NULL DEFAULT 'editor' CONSTRAINT project_member_role_known CHECK (role IN ('owner', 'editor', 'viewer')),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, project_id, user_id),
      FOREIGN KEY (tenant_id, project_id) REFERENCES project (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX project_member_tenant_user_idx ON project_member (tenant_id, user_id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE project_member; DROP TABLE project;`.execute(db);
}
