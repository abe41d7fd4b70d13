import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      NEW.updated_at := now();
      RETURN NEW;
    END $$;

    CREATE TABLE app_user (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      email text NOT NULL CONSTRAINT app_user_email_format CHECK (email ~ '^[^@[:space:]]+@[^@[:space:]]+$' AND length(email) <= 254),
      username text NOT NULL CONSTRAINT app_user_username_length CHECK (length(username) BETWEEN 1 AND 150),
      is_active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      -- 'simple' keeps names and addresses as typed; the address is split so "john" finds john@x.io.
      search tsvector GENERATED ALWAYS AS (
        to_tsvector('simple', username || ' ' || translate(email, '@.+_-', '     '))
      ) STORED,
      PRIMARY KEY (tenant_id, id)
    );
    CREATE UNIQUE INDEX app_user_tenant_email_key ON app_user (tenant_id, lower(email));
    CREATE INDEX app_user_tenant_active_idx ON app_user (tenant_id, id) WHERE is_active;
    CREATE INDEX app_user_search_idx ON app_user USING gin (search);
    CREATE TRIGGER app_user_touch BEFORE UPDATE ON app_user FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

    CREATE TABLE profile (
      tenant_id bigint NOT NULL,
      user_id bigint NOT NULL,
      display_name text CONSTRAINT profile_display_name_length CHECK (length(display_name) <= 200),
      bio text CONSTRAINT profile_bio_length CHECK (length(bio) <= 5000),
      avatar_url text CONSTRAINT profile_avatar_url_format CHECK (avatar_url ~ '^https?://' AND length(avatar_url) <= 2000),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, user_id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE
    );
    CREATE TRIGGER profile_touch BEFORE UPDATE ON profile FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

    CREATE TABLE user_settings (
      tenant_id bigint NOT NULL,
      user_id bigint NOT NULL,
      settings jsonb NOT NULL DEFAULT '{}' CONSTRAINT user_settings_is_object CHECK (jsonb_typeof(settings) = 'object'),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, user_id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE
    );
    CREATE TRIGGER user_settings_touch BEFORE UPDATE ON user_settings FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DROP TABLE user_settings; DROP TABLE profile; DROP TABLE app_user;
    DROP FUNCTION touch_updated_at();
  `.execute(db);
}
