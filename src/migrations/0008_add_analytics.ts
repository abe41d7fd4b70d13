import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    -- One row per pipeline run across all tenants (a reference table): the lineage every metric,
    -- active_user_day and report row points back to.
    CREATE TABLE etl_run (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      pipeline text NOT NULL,
      status text NOT NULL DEFAULT 'running' CONSTRAINT etl_run_status_known CHECK (status IN ('running', 'succeeded', 'failed')),
      activity_from bigint NOT NULL DEFAULT 0,
      activity_to bigint NOT NULL DEFAULT 0,
      event_from bigint NOT NULL DEFAULT 0,
      event_to bigint NOT NULL DEFAULT 0,
      rows_read bigint NOT NULL DEFAULT 0,
      rows_written bigint NOT NULL DEFAULT 0,
      checksums jsonb NOT NULL DEFAULT '{}',
      error text,
      started_at timestamptz NOT NULL DEFAULT now(),
      finished_at timestamptz,
      CONSTRAINT etl_run_ranges_ordered CHECK (activity_to >= activity_from AND event_to >= event_from)
    );
    CREATE INDEX etl_run_pipeline_idx ON etl_run (pipeline, id DESC);

    CREATE TABLE event (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      client_id uuid NOT NULL,
      distinct_id text NOT NULL CONSTRAINT event_distinct_id_length CHECK (length(distinct_id) BETWEEN 1 AND 200),
      user_id bigint,
      name text NOT NULL CONSTRAINT event_name_length CHECK (length(name) BETWEEN 1 AND 200),
      properties jsonb NOT NULL DEFAULT '{}' CONSTRAINT event_properties_is_object CHECK (jsonb_typeof(properties) = 'object'),
      occurred_at timestamptz NOT NULL DEFAULT now(),
      received_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      -- A client retrying a batch sends the same ids: each is stored once.
      CONSTRAINT event_tenant_client_id_key UNIQUE (tenant_id, client_id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE SET NULL (user_id)
    );
    CREATE INDEX event_tenant_name_occurred_idx ON event (tenant_id, name, occurred_at DESC);
    CREATE INDEX event_id_idx ON event (id);

    -- Additive daily counts; distinct counts come from active_user_day, never from summing these.
    CREATE TABLE metric (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      name text NOT NULL,
      dimension text NOT NULL DEFAULT '',
      day date NOT NULL,
      value bigint NOT NULL CONSTRAINT metric_value_non_negative CHECK (value >= 0),
      etl_run_id bigint NOT NULL REFERENCES etl_run (id),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, name, dimension, day)
    );

    CREATE TABLE active_user_day (
      tenant_id bigint NOT NULL,
      day date NOT NULL,
      user_id bigint NOT NULL,
      etl_run_id bigint NOT NULL REFERENCES etl_run (id),
      PRIMARY KEY (tenant_id, day, user_id),
      FOREIGN KEY (tenant_id, user_id) REFERENCES app_user (tenant_id, id) ON DELETE CASCADE
    );
    CREATE INDEX active_user_day_tenant_user_idx ON active_user_day (tenant_id, user_id, day);

    CREATE TABLE report (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      kind text NOT NULL CONSTRAINT report_kind_known CHECK (kind IN ('weekly_activity', 'retention_cohort')),
      period_start date NOT NULL,
      period_end date NOT NULL,
      body jsonb NOT NULL,
      etl_run_ids bigint[] NOT NULL DEFAULT '{}',
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT report_period_ordered CHECK (period_end >= period_start)
    );
    CREATE INDEX report_tenant_kind_idx ON report (tenant_id, kind, id DESC);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE report; DROP TABLE active_user_day; DROP TABLE metric; DROP TABLE event; DROP TABLE etl_run;`.execute(db);
}
