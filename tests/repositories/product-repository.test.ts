import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant, type TenantTx } from '../../src/db/tenant.js';
import { prefixTsQuery, productInput, productPatch, tag } from '../../src/models/catalog.js';
import { ProductRepository } from '../../src/repositories/product-repository.js';
import { migratedDatabase, type TestDatabase, constraintNamed } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';
import { explain, indexScans, planNodes, recordStatements, statementOn } from './plan-helpers.js';
import { refusal } from '../helpers/refusal.js';
import { parseInput } from '../../src/models/validation.js';

let database: TestDatabase;
let statements: ReturnType<typeof recordStatements>;

beforeAll(async () => {
  database = await migratedDatabase();
  statements = recordStatements(database.pool);
});

function asTenant<T>(tenantId: number, fn: (products: ProductRepository, trx: TenantTx) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new ProductRepository(trx), trx));
}

async function productRows(tenantId: number) {
  return database.admin.selectFrom('product').selectAll().where('tenant_id', '=', tenantId).orderBy('id').execute();
}

describe('ProductRepository.create', () => {
  it('stores a product with the database defaults and returns the row as stored', async () => {
    const tenant = await createTenant(database);
    const product = await asTenant(tenant.id, (products) => products.create({ name: 'Desk Lamp', slug: 'desk-lamp' }));
    expect(product).toMatchObject({ tenant_id: tenant.id, name: 'Desk Lamp', slug: 'desk-lamp', description: '', price: 0, tags: [], is_active: true });
    expect(await productRows(tenant.id)).toEqual([product]);
  });

  it('stores price as exact cents and tags once each', async () => {
    const tenant = await createTenant(database);
    const product = await asTenant(tenant.id, (products) => products.create(parseInput(productInput, {
      name: 'Chair', slug: 'chair', price: 1234.56, tags: ['office', 'wood', 'office', ' wood '],
    })));
    expect(product.price).toBe(1234.56);
    expect(product.tags).toEqual(['office', 'wood']);
  });

  it('rejects a duplicate slug in the same tenant and keeps the first product', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, (products) => products.create({ name: 'Product 1', slug: 'product' }));
    await expect(asTenant(tenant.id, (products) => products.create({ name: 'Product 2', slug: 'product' })))
      .rejects.toMatchObject({ code: 'CONFLICT', details: [{ path: 'slug' }], cause: { constraint: constraintNamed('product_tenant_slug_key') } });
    expect((await productRows(tenant.id)).map((row) => row.name)).toEqual(['Product 1']);
  });

  it('allows the same slug in another tenant', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(a.id, (products) => products.create({ name: 'Product 1', slug: 'product' }));
    const other = await asTenant(b.id, (products) => products.create({ name: 'Product 3', slug: 'product' }));
    expect(other).toMatchObject({ tenant_id: b.id, slug: 'product' });
    expect([(await productRows(a.id)).length, (await productRows(b.id)).length]).toEqual([1, 1]);
  });

  it('rejects a negative price, fractions of a cent, a bad slug and an unknown field without sending a query', async () => {
    const tenant = await createTenant(database);
    const error = refusal(productInput, { name: 'Bad', slug: 'Not A Slug', price: -0.01, colour: 'red' });
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    const paths = (error as { details: { path: string }[] }).details.map((detail) => detail.path);
    expect(paths).toEqual(expect.arrayContaining(['slug', 'price', '(root)']));
    expect(refusal(productInput, { name: 'Bad', slug: 'bad', price: 1.005 })).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'price' }] });
    expect(await productRows(tenant.id)).toEqual([]);
  });

  it('is refused a negative price by the database itself, whatever path writes it', async () => {
    const tenant = await createTenant(database);
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into product (tenant_id, name, slug, price) values (${tenant.id}, 'Raw', 'raw', -1)`.execute(trx)))
      .rejects.toMatchObject({ code: 'CHECK_VIOLATION', details: [{ path: 'price' }], cause: { constraint: constraintNamed('product_price_non_negative') } });
    expect(await productRows(tenant.id)).toEqual([]);
  });
});

describe('ProductRepository.get, getBySlug and list', () => {
  it('reads a product by id and by slug, and reports NOT_FOUND for an id or slug it does not have', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (products) => {
      const created = await products.create({ name: 'Mug', slug: 'mug' });
      expect(await products.get(created.id)).toEqual(created);
      expect(await products.getBySlug('mug')).toEqual(created);
      await expect(products.get(created.id + 1_000_000)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(products.getBySlug('cup')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  it('pages by id without skipping or repeating, and filters on the active flag', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (products) => {
      const created = [];
      for (let index = 0; index < 5; index += 1) {
        created.push(await products.create({ name: `P${index}`, slug: `p${index}`, is_active: index !== 2 }));
      }
      const first = await products.list({ limit: 2 });
      const second = await products.list({ limit: 2, afterId: first.at(-1)!.id });
      const third = await products.list({ limit: 2, afterId: second.at(-1)!.id });
      expect([...first, ...second, ...third].map((row) => row.id)).toEqual(created.map((row) => row.id));
      expect((await products.list({ active: false, limit: 100 })).map((row) => row.slug)).toEqual(['p2']);
      expect(await products.list({ active: true, limit: 100 })).toHaveLength(4);
    });
  });
});

describe('ProductRepository.update and delete', () => {
  it('changes only the fields named and reports NOT_FOUND for a missing product', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (products) => {
      const created = await products.create({ name: 'Pen', slug: 'pen', price: 2, tags: ['office'] });
      const updated = await products.update(created.id, { price: 2.5, tags: ['office', 'writing'] });
      expect(updated).toMatchObject({ name: 'Pen', slug: 'pen', price: 2.5, tags: ['office', 'writing'] });
      await expect(products.update(created.id + 1_000_000, { price: 1 })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  it('rejects an empty patch and a slug another product of the tenant has', async () => {
    const tenant = await createTenant(database);
    const [first] = await asTenant(tenant.id, async (products) => [
      await products.create({ name: 'One', slug: 'one' }), await products.create({ name: 'Two', slug: 'two' })]);
    expect(refusal(productPatch, {})).toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(asTenant(tenant.id, (products) => products.update(first.id, { slug: 'two' })))
      .rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await productRows(tenant.id)).map((row) => row.slug)).toEqual(['one', 'two']);
  });

  it('deletes the product with its inventory, and reports NOT_FOUND the second time', async () => {
    const tenant = await createTenant(database);
    const product = await asTenant(tenant.id, (products) => products.create({ name: 'Box', slug: 'box' }));
    await database.admin.insertInto('inventory').values({ tenant_id: tenant.id, product_id: product.id, quantity: 3 }).execute();
    await asTenant(tenant.id, (products) => products.delete(product.id));
    expect(await productRows(tenant.id)).toEqual([]);
    expect(await database.admin.selectFrom('inventory').selectAll().where('tenant_id', '=', tenant.id).execute()).toEqual([]);
    await expect(asTenant(tenant.id, (products) => products.delete(product.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('ProductRepository.findByTag and search', () => {
  it('finds the products carrying a tag, and only those, a page at a time', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (products) => {
      const red = await products.create({ name: 'Red Mug', slug: 'red-mug', tags: ['kitchen', 'red'] });
      await products.create({ name: 'Blue Mug', slug: 'blue-mug', tags: ['kitchen', 'blue'] });
      const redPen = await products.create({ name: 'Red Pen', slug: 'red-pen', tags: ['office', 'red'] });
      expect((await products.findByTag('red', { limit: 100 })).map((row) => row.id)).toEqual([red.id, redPen.id]);
      expect((await products.findByTag('red', { limit: 1, afterId: red.id })).map((row) => row.id)).toEqual([redPen.id]);
      expect(await products.findByTag('green', { limit: 100 })).toEqual([]);
      expect(refusal(tag, '')).toMatchObject({ code: 'VALIDATION_FAILED' });
    });
  });

  it('matches word prefixes in name and description, stemmed, best match first', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (products) => {
      const keyboard = await products.create({ name: 'Wireless Keyboard', slug: 'keyboard', description: 'Quiet keys for the office' });
      const mouse = await products.create({ name: 'Mouse', slug: 'mouse', description: 'Pairs with any wireless keyboard' });
      await products.create({ name: 'Desk', slug: 'desk', description: 'Solid oak' });
      expect((await products.search('wirel keyb', { limit: 50 })).map((row) => row.id)).toEqual([keyboard.id, mouse.id]);
      expect((await products.search('Keyboards', { limit: 50 })).map((row) => row.id)).toEqual([keyboard.id, mouse.id]);
      expect((await products.search('quiet', { limit: 50 })).map((row) => row.id)).toEqual([keyboard.id]);
      expect((await products.search('oak', { limit: 1 })).map((row) => row.slug)).toEqual(['desk']);
    });
  });

  it('treats tsquery operators in the input as plain text and sends no query for input without words', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (products) => {
      const lamp = await products.create({ name: 'Lamp', slug: 'lamp' });
      expect((await products.search("lam:* & | ! ( ) ' <->", { limit: 50 })).map((row) => row.id)).toEqual([lamp.id]);
      const measured = await database.queries.measure(() => products.search(' &|!() ', { limit: 50 }));
      expect(measured).toMatchObject({ result: [], queries: 0 });
    });
    expect(prefixTsQuery("O'Brien  café-2")).toBe('o:* & brien:* & café:* & 2:*');
  });
});

describe('ProductRepository across tenants', () => {
  it('cannot read, find, search, change or delete another tenant\'s product', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const product = await asTenant(a.id, (products) => products.create({ name: 'Secret Lamp', slug: 'secret', tags: ['hidden'] }));
    await asTenant(b.id, async (products) => {
      await expect(products.get(product.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(products.getBySlug('secret')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await products.list({ limit: 100 })).toEqual([]);
      expect(await products.findByTag('hidden', { limit: 100 })).toEqual([]);
      expect(await products.search('secret', { limit: 50 })).toEqual([]);
    });
    await expect(asTenant(b.id, (products) => products.update(product.id, { price: 0.01 }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (products) => products.delete(product.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await productRows(a.id)).toEqual([product]);
  });
});

describe('ProductRepository query plans on 20,000 products', () => {
  let tenantId: number;

  beforeAll(async () => {
    tenantId = (await createTenant(database, 'Catalog')).id;
    await sql`
      insert into product (tenant_id, name, slug, description, tags)
      select ${tenantId}, 'Item ' || g, 'item-' || g, 'a plain catalog item, number ' || g,
        array['tag-' || (g % 400), 'tag-' || (g % 7 + 400)]
      from generate_series(1, 20000) g`.execute(database.admin);
    await sql`update product set name = 'Vintage Gramophone' where tenant_id = ${tenantId} and slug = 'item-77'`.execute(database.admin);
    await sql`vacuum analyze product`.execute(database.admin);
  });

  it('finds the products of a tag (50 of 20,000) and nothing else', async () => {
    const found = await asTenant(tenantId, (products) => products.findByTag('tag-5', { limit: 1000 }));
    expect(found).toHaveLength(50);
    expect(found.every((row) => row.tags.includes('tag-5'))).toBe(true);
  });

  it('serves findByTag from the GIN index on tags under the tenant policy', async () => {
    const captured = await statements.capture(() => asTenant(tenantId, (products) => products.findByTag('tag-5', { limit: 100 })));
    const plan = await explain(database, tenantId, statementOn(captured, 'product'));
    expect(indexScans(plan).map((node) => node['Index Name'])).toContain('product_tags_gin_idx');
    expect(planNodes(plan).map((node) => node['Node Type'])).not.toContain('Seq Scan');
  });

  it('serves search from the GIN index on the search vector under the tenant policy', async () => {
    const captured = await statements.capture(() => asTenant(tenantId, (products) => products.search('gramoph', { limit: 50 })));
    const plan = await explain(database, tenantId, statementOn(captured, 'product'));
    expect(indexScans(plan).map((node) => node['Index Name'])).toContain('product_search_idx');
  });

  it('finds the one product whose name matches among 20,000', async () => {
    const found = await asTenant(tenantId, (products) => products.search('gramoph', { limit: 50 }));
    expect(found.map((row) => row.slug)).toEqual(['item-77']);
  });
});
