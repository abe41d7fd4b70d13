import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE organization (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      name text NOT NULL CONSTRAINT organization_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 200),
      slug text NOT NULL CONSTRAINT organization_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT organization_tenant_slug_key UNIQUE (tenant_id, slug)
    );

    CREATE TABLE team (
      tenant_id bigint NOT NULL,
      id bigint GENERATED ALWAYS AS IDENTITY,
      organization_id bigint NOT NULL,
      name text NOT NULL CONSTRAINT team_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 200),
      slug text NOT NULL CONSTRAINT team_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT team_tenant_slug_key UNIQUE (tenant_id, slug),
      FOREIGN KEY (tenant_id, organization_id) REFERENCES organization (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX team_tenant_organization_idx ON team (tenant_id, organization_id);

    CREATE TABLE membership (
      tenant_id bigint NOT NULL,
      team_id bigint NOT NULL,
      user_id bigint NOT NULL,
      role text NOT NULL DEFAULT 'member' CONSTRAINT membership_role_known CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, team_id, user_id),
      FOREIGN KEY (tenant_id, team_id) REFERENCES team (tenant_id, id) ON DELETE CASCADE,
      FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX membership_tenant_user_idx ON membership (tenant_id, user_id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE membership; DROP TABLE team; DROP TABLE organization;`.execute(db);
}
