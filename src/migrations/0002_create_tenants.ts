import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE tenant (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      name text NOT NULL CONSTRAINT tenant_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 200),
      slug text NOT NULL CONSTRAINT tenant_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT tenant_slug_key UNIQUE (slug)
    );

    -- Tenant keys read strata_<tenant id>_<secret>: the lookup is by (tenant_id, prefix), so the
    -- unique key stays tenant-first and only the sha-256 of the secret is stored.
    CREATE TABLE api_key (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      name text NOT NULL DEFAULT 'default' CONSTRAINT api_key_name_length CHECK (length(name) BETWEEN 1 AND 100),
      prefix text NOT NULL,
      key_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz,
      revoked_at timestamptz,
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT api_key_tenant_prefix_key UNIQUE (tenant_id, prefix)
    );

    CREATE TABLE admin_key (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      prefix text NOT NULL CONSTRAINT admin_key_prefix_key UNIQUE,
      key_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      revoked_at timestamptz
    );
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE admin_key; DROP TABLE api_key; DROP TABLE tenant;`.execute(db);
}
