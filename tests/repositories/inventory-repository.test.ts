import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { StrataError } from '../../src/errors.js';
import { InventoryRepository } from '../../src/repositories/inventory-repository.js';
import { ProductRepository } from '../../src/repositories/product-repository.js';
import { migratedDatabase, type TestDatabase, constraintNamed } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';
import { refusal } from '../helpers/refusal.js';
import { inventoryDelta } from '../../src/models/catalog.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

function asTenant<T>(tenantId: number, fn: (inventory: InventoryRepository) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new InventoryRepository(trx)));
}

async function newProduct(tenantId: number, quantity?: number) {
  const product = await withTenant(database, { tenantId }, (trx) => new ProductRepository(trx).create({
    name: 'Widget', slug: `widget-${Math.random().toString(36).slice(2, 10)}`,
  }));
  if (quantity !== undefined) await asTenant(tenantId, (inventory) => inventory.adjust(product.id, quantity));
  return product;
}

async function storedQuantity(tenantId: number, productId: number): Promise<number | undefined> {
  const row = await database.admin.selectFrom('inventory').select('quantity')
    .where('tenant_id', '=', tenantId).where('product_id', '=', productId).executeTakeFirst();
  return row?.quantity;
}

describe('InventoryRepository.get', () => {
  it('reports a quantity of 0 for a product never stocked, and the stored quantity after that', async () => {
    const tenant = await createTenant(database);
    const product = await newProduct(tenant.id);
    expect(await asTenant(tenant.id, (inventory) => inventory.get(product.id)))
      .toMatchObject({ tenant_id: tenant.id, product_id: product.id, quantity: 0, updated_at: null });
    await asTenant(tenant.id, (inventory) => inventory.adjust(product.id, 7));
    const stocked = await asTenant(tenant.id, (inventory) => inventory.get(product.id));
    expect(stocked.quantity).toBe(7);
    expect(stocked.updated_at).toBeInstanceOf(Date);
  });

  it('reports NOT_FOUND for a product that does not exist', async () => {
    const tenant = await createTenant(database);
    await expect(asTenant(tenant.id, (inventory) => inventory.get(999_999_999))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('InventoryRepository.adjust', () => {
  it('creates the stock row on the first increment and adds to it after, in one statement each', async () => {
    const tenant = await createTenant(database);
    const product = await newProduct(tenant.id);
    await asTenant(tenant.id, async (inventory) => {
      const first = await database.queries.measure(() => inventory.adjust(product.id, 5));
      expect(first).toMatchObject({ queries: 1, result: { product_id: product.id, quantity: 5 } });
      const second = await database.queries.measure(() => inventory.adjust(product.id, -2));
      expect(second).toMatchObject({ queries: 1, result: { quantity: 3 } });
    });
    expect(await storedQuantity(tenant.id, product.id)).toBe(3);
  });

  it('refuses a decrement past zero with INSUFFICIENT_INVENTORY and changes nothing', async () => {
    const tenant = await createTenant(database);
    const product = await newProduct(tenant.id, 3);
    const error = await asTenant(tenant.id, (inventory) => inventory.adjust(product.id, -4)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StrataError);
    expect(error).toMatchObject({ code: 'INSUFFICIENT_INVENTORY', details: [{ path: 'delta', available: 3, requested: -4 }] });
    expect(await storedQuantity(tenant.id, product.id)).toBe(3);
    const unstocked = await newProduct(tenant.id);
    await expect(asTenant(tenant.id, (inventory) => inventory.adjust(unstocked.id, -1)))
      .rejects.toMatchObject({ code: 'INSUFFICIENT_INVENTORY', details: [{ available: 0 }] });
    expect(await storedQuantity(tenant.id, unstocked.id)).toBeUndefined();
  });

  it('rejects a delta that is not a whole number within the column range without sending a query', async () => {
    const tenant = await createTenant(database);
    const product = await newProduct(tenant.id, 1);
    for (const delta of [1.5, Number.NaN, 2 ** 31]) {
      expect(refusal(inventoryDelta, delta), String(delta)).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    expect(await storedQuantity(tenant.id, product.id)).toBe(1);
  });

  it('reports NOT_FOUND for a product that does not exist, in either direction', async () => {
    const tenant = await createTenant(database);
    await expect(asTenant(tenant.id, (inventory) => inventory.adjust(999_999_999, 1))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(tenant.id, (inventory) => inventory.adjust(999_999_999, -1))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('never lets quantity go below zero under 50 concurrent decrements', async () => {
    const tenant = await createTenant(database);
    const product = await newProduct(tenant.id, 20);
    const outcomes = await Promise.allSettled(Array.from({ length: 50 }, () => asTenant(tenant.id, (inventory) => inventory.adjust(product.id, -1))));
    const succeeded = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const failed = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    expect(succeeded).toHaveLength(20);
    expect(failed).toHaveLength(30);
    expect(failed.every((outcome) => (outcome.reason as StrataError).code === 'INSUFFICIENT_INVENTORY')).toBe(true);
    expect(await storedQuantity(tenant.id, product.id)).toBe(0);
    // Every success saw a distinct quantity: no two decrements read the same value (no lost update).
    const seen = succeeded.map((outcome) => (outcome as PromiseFulfilledResult<{ quantity: number }>).value.quantity);
    expect(seen.sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, index) => index));
  });

  it('loses no increment under 30 concurrent increments on a product not yet stocked', async () => {
    const tenant = await createTenant(database);
    const product = await newProduct(tenant.id);
    await Promise.all(Array.from({ length: 30 }, () => asTenant(tenant.id, (inventory) => inventory.adjust(product.id, 2))));
    expect(await storedQuantity(tenant.id, product.id)).toBe(60);
  });
});

describe('inventory rules in the database', () => {
  it('refuses a negative quantity written by raw SQL inside a tenant transaction', async () => {
    const tenant = await createTenant(database);
    const product = await newProduct(tenant.id);
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into inventory (tenant_id, product_id, quantity) values (${tenant.id}, ${product.id}, -5)`.execute(trx)))
      .rejects.toMatchObject({ code: 'CHECK_VIOLATION', details: [{ path: 'delta' }], cause: { constraint: constraintNamed('inventory_quantity_non_negative') } });
    expect(await storedQuantity(tenant.id, product.id)).toBeUndefined();
  });
});

describe('InventoryRepository across tenants', () => {
  it('cannot read or adjust another tenant\'s stock: NOT_FOUND, and the quantity is unchanged', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const product = await newProduct(a.id, 10);
    await expect(asTenant(b.id, (inventory) => inventory.get(product.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (inventory) => inventory.adjust(product.id, 5))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (inventory) => inventory.adjust(product.id, -5))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await storedQuantity(a.id, product.id)).toBe(10);
    expect(await storedQuantity(b.id, product.id)).toBeUndefined();
  });
});
