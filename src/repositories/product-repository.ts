import { sql } from 'kysely';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import {
  prefixTsQuery, type ProductInput, type ProductListOptions, type ProductPatch, type ProductSearchOptions,
  type ProductTagOptions,
} from '../models/catalog.js';

// Every method takes input already valid: parsed at the edge (the API, or the CLI) by the model's schema.

export class ProductRepository {
  constructor(private readonly trx: TenantTx) {}

  async create(input: ProductInput) {
    return this.trx.insertInto('product').values({ ...input, tenant_id: tenantOf(this.trx) })
      .returningAll().executeTakeFirstOrThrow();
  }

  async get(productId: number) {
    const product = await this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx)).where('id', '=', productId).executeTakeFirst();
    if (!product) throw new StrataError('NOT_FOUND', `product ${productId} does not exist`);
    return product;
  }

  async getBySlug(slug: string) {
    const product = await this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx)).where('slug', '=', slug).executeTakeFirst();
    if (!product) throw new StrataError('NOT_FOUND', `product "${slug}" does not exist`);
    return product;
  }

  async list({ afterId, limit, active }: ProductListOptions) {
    let query = this.trx.selectFrom('product').selectAll().where('tenant_id', '=', tenantOf(this.trx));
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    if (active !== undefined) query = query.where('is_active', '=', active);
    return query.orderBy('id').limit(limit).execute();
  }

  async update(productId: number, patch: ProductPatch) {
    const product = await this.trx.updateTable('product').set(patch)
      .where('tenant_id', '=', tenantOf(this.trx)).where('id', '=', productId).returningAll().executeTakeFirst();
    if (!product) throw new StrataError('NOT_FOUND', `product ${productId} does not exist`);
    return product;
  }

  /** Deletes the product and, through the cascading key, its inventory. */
  async delete(productId: number): Promise<void> {
    const result = await this.trx.deleteFrom('product')
      .where('tenant_id', '=', tenantOf(this.trx)).where('id', '=', productId).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new StrataError('NOT_FOUND', `product ${productId} does not exist`);
  }

  /**
   * `tags @> array[tag]` is the form the GIN index on tags can answer (`tag = any(tags)` is not); under
   * row-level security it does so only once arraycontains is marked leakproof.
   */
  async findByTag(tag: string, { afterId, limit }: ProductTagOptions) {
    let query = this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx))
      .where('tags', '@>', sql<string[]>`array[${tag}]::text[]`);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.orderBy('id').limit(limit).execute();
  }

  /**
   * Full-text search over name and description (the generated `search` column), best match first.
   * Its GIN index, too, serves a tenant's query only once ts_match_vq (@@) is marked leakproof.
   */
  async search(query: string, { limit }: ProductSearchOptions) {
    const terms = prefixTsQuery(query);
    if (terms === null) return [];
    const tsquery = sql`to_tsquery('english', ${terms})`;
    return this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx))
      .where(sql<boolean>`search @@ ${tsquery}`)
      .orderBy(sql`ts_rank(search, ${tsquery})`, 'desc').orderBy('id')
      .limit(limit).execute();
  }
}
