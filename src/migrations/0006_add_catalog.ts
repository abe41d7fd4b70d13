import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE product (
      tenant_id bigint NOT NULL REFERENCES tenant (id) ON DELETE CASCADE,
      id bigint GENERATED ALWAYS AS IDENTITY,
      name text NOT NULL CONSTRAINT product_name_length CHECK (length(btrim(name)) BETWEEN 1 AND 200),
      slug text NOT NULL CONSTRAINT product_slug_format CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
      description text NOT NULL DEFAULT '' CONSTRAINT product_description_length CHECK (length(description) <= 10000),
      price numeric(12, 2) NOT NULL DEFAULT 0 CONSTRAINT product_price_non_negative CHECK (price >= 0),
      tags text[] NOT NULL DEFAULT '{}' CONSTRAINT product_tags_bounded CHECK (cardinality(tags) <= 50),
      is_active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now(),
      updated_at timestamptz NOT NULL DEFAULT now(),
      search tsvector GENERATED ALWAYS AS (to_tsvector('english', name || ' ' || description)) STORED,
      PRIMARY KEY (tenant_id, id),
      CONSTRAINT product_tenant_slug_key UNIQUE (tenant_id, slug)
    );
    CREATE INDEX product_tags_gin_idx ON product USING gin (tags);
    CREATE INDEX product_search_idx ON product USING gin (search);
    CREATE TRIGGER product_touch BEFORE UPDATE ON product FOR EACH ROW EXECUTE FUNCTION touch_updated_at();

    CREATE TABLE inventory (
      tenant_id bigint NOT NULL,
      product_id bigint NOT NULL,
      quantity integer NOT NULL DEFAULT 0 CONSTRAINT inventory_quantity_non_negative CHECK (quantity >= 0),
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tenant_id, product_id),
      FOREIGN KEY (tenant_id, product_id) REFERENCES product (tenant_id, id) ON DELETE CASCADE
    );
    CREATE TRIGGER inventory_touch BEFORE UPDATE ON inventory FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP TABLE inventory; DROP TABLE product;`.execute(db);
}
