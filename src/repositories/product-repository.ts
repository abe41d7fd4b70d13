import { sql } from 'kysely';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import {
  prefixTsQuery, productInput, productListOptions, productPatch, productSearchOptions, productSearchQuery, productTagOptions,
  tag as tagSchema, type ProductInput, type ProductListOptions, type ProductPatch,
  type ProductSearchOptions, type ProductTagOptions,
} from '../models/catalog.js';
import { id as idSchema, slug as slugSchema } from '../models/common.js';
import { parseInput } from '../models/validation.js';

export class ProductRepository {
  constructor(private readonly trx: TenantTx) {}

  async create(input: ProductInput) {
    const values = parseInput(productInput, input);
    return this.trx.insertInto('product').values({ ...values, tenant_id: tenantOf(this.trx) })
      .returningAll().executeTakeFirstOrThrow();
  }

  async get(id: number) {
    const productId = parseInput(idSchema, id);
    const product = await this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx)).where('id', '=', productId).executeTakeFirst();
    if (!product) throw new StrataError('NOT_FOUND', `product ${productId} does not exist`);
    return product;
  }

  async getBySlug(slug: string) {
    const value = parseInput(slugSchema, slug);
    const product = await this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx)).where('slug', '=', value).executeTakeFirst();
    if (!product) throw new StrataError('NOT_FOUND', `product "${value}" does not exist`);
    return product;
  }

  async list(options: ProductListOptions = {}) {
    const { afterId, limit, active } = parseInput(productListOptions, options);
    let query = this.trx.selectFrom('product').selectAll().where('tenant_id', '=', tenantOf(this.trx));
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    if (active !== undefined) query = query.where('is_active', '=', active);
    return query.orderBy('id').limit(limit).execute();
  }

  async update(id: number, patch: ProductPatch) {
    const productId = parseInput(idSchema, id);
    const values = parseInput(productPatch, patch);
    const product = await this.trx.updateTable('product').set(values)
      .where('tenant_id', '=', tenantOf(this.trx)).where('id', '=', productId).returningAll().executeTakeFirst();
    if (!product) throw new StrataError('NOT_FOUND', `product ${productId} does not exist`);
    return product;
  }

  /** Deletes the product and, through the cascading key, its inventory. */
  async delete(id: number): Promise<void> {
    const productId = parseInput(idSchema, id);
    const result = await this.trx.deleteFrom('product')
      .where('tenant_id', '=', tenantOf(this.trx)).where('id', '=', productId).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new StrataError('NOT_FOUND', `product ${productId} does not exist`);
  }

  /**
   * `tags @> array[tag]` is the form the GIN index on tags can answer (`tag = any(tags)` is not); under
   * row-level security it does so only once arraycontains is marked leakproof.
   */
  async findByTag(tag: string, options: ProductTagOptions = {}) {
    const value = parseInput(tagSchema, tag);
    const { afterId, limit } = parseInput(productTagOptions, options);
    let query = this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx))
      .where('tags', '@>', sql<string[]>`array[${value}]::text[]`);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.orderBy('id').limit(limit).execute();
  }

  /**
   * Full-text search over name and description (the generated `search` column), best match first.
   * Its GIN index, too, serves a tenant's query only once ts_match_vq (@@) is marked leakproof.
   */
  async search(query: string, options: ProductSearchOptions = {}) {
    const terms = prefixTsQuery(parseInput(productSearchQuery, query));
    const { limit } = parseInput(productSearchOptions, options);
    if (terms === null) return [];
    const tsquery = sql`to_tsquery('english', ${terms})`;
    return this.trx.selectFrom('product').selectAll()
      .where('tenant_id', '=', tenantOf(this.trx))
      .where(sql<boolean>`search @@ ${tsquery}`)
      .orderBy(sql`ts_rank(search, ${tsquery})`, 'desc').orderBy('id')
      .limit(limit).execute();
  }
}
