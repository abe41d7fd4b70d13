import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { ApiKeyRepository } from '../../src/repositories/api-key-repository.js';
import { InventoryRepository } from '../../src/repositories/inventory-repository.js';
import { ProductRepository } from '../../src/repositories/product-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';

let database: TestDatabase;
let tenantId: number;
const missing = 987_654_321;

beforeAll(async () => {
  database = await migratedDatabase();
  tenantId = (await createTenant(database, 'Refusals')).id;
});

const inventory = <T>(fn: (repository: InventoryRepository) => Promise<T>) =>
  withTenant(database, { tenantId }, (trx) => fn(new InventoryRepository(trx)));

async function newProduct() {
  return withTenant(database, { tenantId }, (trx) => new ProductRepository(trx).create({
    name: 'Gadget', slug: `gadget-${Math.random().toString(36).slice(2, 10)}`,
  }));
}

describe('InventoryRepository refusals', () => {
  it('adjusting a product never stocked by 0 stocks it at 0 rather than refusing', async () => {
    const product = await newProduct();
    expect(await inventory((repository) => repository.adjust(product.id, 0))).toMatchObject({ product_id: product.id, quantity: 0 });
    const row = await database.admin.selectFrom('inventory').select('quantity').where('product_id', '=', product.id).executeTakeFirst();
    expect(row).toEqual({ quantity: 0 });
  });

  it('a take beyond the stock names the product, what is there and what was asked for', async () => {
    const product = await newProduct();
    await inventory((repository) => repository.adjust(product.id, 3));
    const error = await inventory((repository) => repository.adjust(product.id, -5)).catch((reason: unknown) => reason);
    expect(error).toMatchObject({
      code: 'INSUFFICIENT_INVENTORY',
      message: `product ${product.id} has 3 in stock; cannot take 5`,
      details: [{ path: 'delta', message: 'would take the quantity below zero', available: 3, requested: -5 }],
    });
  });

  it('NOT_FOUND names the product that is missing, in the stock and in the catalogue', async () => {
    const expected = { code: 'NOT_FOUND', message: `product ${missing} does not exist` };
    await expect(inventory((repository) => repository.get(missing))).rejects.toMatchObject(expected);
    const products = <T>(fn: (repository: ProductRepository) => Promise<T>) => withTenant(database, { tenantId }, (trx) => fn(new ProductRepository(trx)));
    await expect(products((repository) => repository.get(missing))).rejects.toMatchObject(expected);
    await expect(products((repository) => repository.update(missing, { name: 'Renamed' }))).rejects.toMatchObject(expected);
    await expect(products((repository) => repository.delete(missing))).rejects.toMatchObject(expected);
    await expect(products((repository) => repository.getBySlug('no-such-slug')))
      .rejects.toMatchObject({ code: 'NOT_FOUND', message: 'product "no-such-slug" does not exist' });
  });
});

describe('ApiKeyRepository refusals and listing', () => {
  it('lists every key of the tenant when no page is given', async () => {
    const keys = <T>(fn: (repository: ApiKeyRepository) => Promise<T>) => withTenant(database, { tenantId }, (trx) => fn(new ApiKeyRepository(trx)));
    const created = await keys((repository) => repository.create({ name: 'listed', prefix: 'plisted1', keyHash: 'h'.repeat(64), readOnly: false }));
    expect((await keys((repository) => repository.list({ limit: 100 }))).map((key) => key.id)).toContain(created.id);
  });

  it('revoking a key that does not exist is NOT_FOUND, naming the key', async () => {
    await expect(withTenant(database, { tenantId }, (trx) => new ApiKeyRepository(trx).revoke(missing)))
      .rejects.toMatchObject({ code: 'NOT_FOUND', message: `API key ${missing} does not exist` });
  });

  it('another tenant\'s product and key read as missing, and nothing of theirs changes', async () => {
    const product = await newProduct();
    await inventory((repository) => repository.adjust(product.id, 2));
    const other = (await createTenant(database, 'Other')).id;
    await expect(withTenant(database, { tenantId: other }, (trx) => new InventoryRepository(trx).adjust(product.id, -1)))
      .rejects.toMatchObject({ code: 'NOT_FOUND', message: `product ${product.id} does not exist` });
    expect(await inventory((repository) => repository.get(product.id))).toMatchObject({ quantity: 2 });
    const key = await withTenant(database, { tenantId }, (trx) => new ApiKeyRepository(trx).create({ name: 'mine', prefix: 'pmine001', keyHash: 'h'.repeat(64), readOnly: false }));
    await expect(withTenant(database, { tenantId: other }, (trx) => new ApiKeyRepository(trx).revoke(key.id)))
      .rejects.toMatchObject({ code: 'NOT_FOUND', message: `API key ${key.id} does not exist` });
  });
});
