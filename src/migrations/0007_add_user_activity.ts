import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE user_activity (
      tenant_id bigint NOT NULL,
      -- Also the ingestion sequence the analytics pipeline reads from (event time can be late).
      id bigint GENERATED ALWAYS AS IDENTITY,
      user_id bigint NOT NULL,
      activity_type text NOT NULL CONSTRAINT user_activity_type_format CHECK (activity_type ~ '^[A-Za-z0-9_.:-]{1,50}$'),
      metadata jsonb NOT NULL DEFAULT '{}' CONSTRAINT user_activity_metadata_is_object CHECK (jsonb_typeof(metadata) = 'object'),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id, created_at),
      -- Composite: an activity can never name a user of another tenant.
      FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE
    ) PARTITION BY RANGE (created_at);

    CREATE TABLE user_activity_default PARTITION OF user_activity DEFAULT;

    -- One index per query pattern the repositories run; each is proven by an EXPLAIN test.
    CREATE INDEX user_activity_tenant_user_created_idx ON user_activity (tenant_id, user_id, created_at DESC);
    CREATE INDEX user_activity_tenant_type_created_idx ON user_activity (tenant_id, activity_type, created_at DESC);
    CREATE INDEX user_activity_tenant_created_idx ON user_activity (tenant_id, created_at DESC);
    CREATE INDEX user_activity_metadata_gin_idx ON user_activity USING gin (metadata jsonb_path_ops);
    CREATE INDEX user_activity_id_idx ON user_activity (id);

    -- Creates the monthly partitions from months_back before to months_ahead after the current
    -- month (UTC) that do not exist yet; returns how many it created.
    CREATE FUNCTION ensure_user_activity_partitions(months_ahead integer DEFAULT 3, months_back integer DEFAULT 1)
    RETURNS integer LANGUAGE plpgsql AS $$
    DECLARE
      month_start timestamptz;
      partition_name text;
      created integer := 0;
    BEGIN
      FOR step IN -months_back..months_ahead LOOP
        month_start := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + make_interval(months => step);
        partition_name := format('user_activity_p%s', to_char(month_start AT TIME ZONE 'UTC', 'YYYY_MM'));
        IF to_regclass(partition_name) IS NULL THEN
          EXECUTE format('CREATE TABLE %I PARTITION OF user_activity FOR VALUES FROM (%L) TO (%L)',
            partition_name, month_start, month_start + interval '1 month');
          created := created + 1;
        END IF;
      END LOOP;
      RETURN created;
    END $$;

    SELECT ensure_user_activity_partitions();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE user_activity; DROP FUNCTION ensure_user_activity_partitions(integer, integer);`.execute(db);
}
