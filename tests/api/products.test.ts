import { beforeAll, describe, expect, it } from 'vitest';
import { expectAuthRequired } from './support/auth.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { forgedCursors, walkPages } from './support/pages.js';
import { unique } from './support/seed.js';
import { twoTenants, type ApiTenant, type Seeder } from './support/two-tenants.js';

let api: CheckedApi, seed: Seeder, a: ApiTenant, b: ApiTenant;
const json = { 'content-type': 'application/json' };

beforeAll(async () => {
  ({ api, seed, a, b } = await twoTenants(checkedApi(), 'Products'));
});

async function stock(tenantId: number, productId: number): Promise<number | undefined> {
  const row = await api.database.admin.selectFrom('inventory').select('quantity')
    .where('tenant_id', '=', tenantId).where('product_id', '=', productId).executeTakeFirst();
  return row?.quantity;
}

describe('/v1/products', () => {
  it('creates, gets, patches and deletes a product; tags are a set; the delete takes the stock', async () => {
    const slug = unique('kbd');
    const created = await api.call('POST', '/v1/products', a.key, { name: 'Keyboard', slug, price: 49.99, tags: ['usb', 'usb', 'input'], isActive: false });
    expect(created.statusCode).toBe(201);
    const product = created.json().data;
    expect(product).toMatchObject({ name: 'Keyboard', slug, price: 49.99, tags: ['usb', 'input'], isActive: false, description: '' });
    expect(product).not.toHaveProperty('search');
    expect((await api.call('GET', `/v1/products/${product.id}`, a.key)).json().data).toEqual(product);
    const patched = (await api.call('PATCH', `/v1/products/${product.id}`, a.key, { price: 0, isActive: true })).json().data;
    expect(patched).toMatchObject({ id: product.id, price: 0, isActive: true });
    await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 3 });
    expect((await api.call('DELETE', `/v1/products/${product.id}`, a.key)).statusCode).toBe(204);
    expectError(await api.call('GET', `/v1/products/${product.id}`, a.key), 404, 'NOT_FOUND');
    expect(await stock(a.id, product.id)).toBeUndefined();
  });

  it('refuses a taken slug with CONFLICT', async () => {
    const [first, second] = [await seed.product(a.key), await seed.product(a.key)];
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('POST', '/v1/products', a.key, { name: 'Again', slug: first.slug }), 409, 'CONFLICT');
      expectError(await api.call('PATCH', `/v1/products/${second.id}`, a.key, { slug: first.slug }), 409, 'CONFLICT');
    });
  });

  it('names every bad field: price, tags, isActive, unknown ones', async () => {
    await expectUnchanged(api.database, async () => {
      const error = expectError(await api.call('POST', '/v1/products', a.key, {
        name: 'P', slug: 'p', price: -1, tags: ['ok', ''], isActive: 'true', sku: 'x',
      }), 400, 'VALIDATION_FAILED', ['price', 'tags.1', 'isActive', 'sku']);
      expect(error.details).toHaveLength(4);
      for (const price of ['0.001', '10000000000', '1e309', '"9.99"']) {
        const body = `{"name":"P","slug":"${unique('p')}","price":${price}}`;
        expectError(await api.call('POST', '/v1/products', a.key, body, json), 400, 'VALIDATION_FAILED', ['price']);
      }
      const tooMany = Array.from({ length: 51 }, (_, index) => `t${index}`);
      expectError(await api.call('POST', '/v1/products', a.key, { name: 'P', slug: unique('p'), tags: tooMany }), 400, 'VALIDATION_FAILED', ['tags']);
      expectError(await api.call('POST', '/v1/products', a.key, { name: 'n\u0000', slug: unique('p') }), 400, 'VALIDATION_FAILED', ['name']);
      expectError(await api.call('POST', '/v1/products', a.key, { name: 'P', slug: unique('p'), tags: ['\udc00'] }), 400, 'VALIDATION_FAILED', ['tags.0']);
      expectError(await api.call('PATCH', '/v1/products/1', a.key, {}), 400, 'VALIDATION_FAILED');
    });
  });

  it('walks every product exactly once, also by tag and by active, and refuses limit 501 and forged cursors', async () => {
    const tenant = await api.tenant('Products pages');
    const made = [];
    for (let index = 0; index < 7; index += 1) {
      made.push(await seed.product(tenant.key, { tags: index % 2 === 0 ? ['even'] : ['odd'], isActive: index < 5 }));
    }
    expect((await walkPages(api, '/v1/products', tenant.key, 3)).rows.map((row) => row.id)).toEqual(made.map((row) => row.id));
    const even = await walkPages(api, '/v1/products?tag=even', tenant.key, 2);
    expect(even.rows.map((row) => row.id)).toEqual(made.filter((_, index) => index % 2 === 0).map((row) => row.id));
    const inactive = await walkPages(api, '/v1/products?active=false', tenant.key, 1);
    expect(inactive.rows.map((row) => row.id)).toEqual(made.slice(5).map((row) => row.id));
    expectError(await api.call('GET', '/v1/products?limit=501', tenant.key), 400, 'VALIDATION_FAILED', ['limit']);
    for (const cursor of forgedCursors) {
      expectError(await api.call('GET', `/v1/products?cursor=${encodeURIComponent(cursor)}`, tenant.key), 400, 'VALIDATION_FAILED', ['cursor']);
    }
  });

  it('searches name and description with q=, within the tenant only', async () => {
    const word = `quasar${unique('w').replaceAll('-', '')}`;
    const mine = await seed.product(a.key, { name: 'Lamp', description: `A ${word} lamp` });
    await seed.product(b.key, { name: 'Lamp', description: `A ${word} lamp` });
    expect((await api.call('GET', `/v1/products?q=${word}`, a.key)).json()).toEqual({ data: [expect.objectContaining({ id: mine.id })], nextCursor: null });
    expect((await api.call('GET', `/v1/products?q=${encodeURIComponent("'; drop table product; -- & | !")}`, a.key)).statusCode).toBe(200);
  });

  // Search and the tag lookup take no other filter; before, active= was silently dropped with tag=.
  it('refuses filters that would be ignored: cursor, tag or active with q, and active with tag', async () => {
    const cursor = Buffer.from('1').toString('base64url');
    expectError(await api.call('GET', `/v1/products?q=lamp&cursor=${cursor}&tag=x&active=true`, a.key), 400, 'VALIDATION_FAILED', ['cursor', 'tag', 'active']);
    expectError(await api.call('GET', '/v1/products?tag=x&active=true', a.key), 400, 'VALIDATION_FAILED', ['active']);
  });
});

describe('/v1/products/:id/inventory', () => {
  it('reads 0 for a product never stocked, adds and removes stock', async () => {
    const product = await seed.product(a.key);
    expect((await api.call('GET', `/v1/products/${product.id}/inventory`, a.key)).json().data).toEqual({ productId: product.id, quantity: 0, updatedAt: null });
    expect((await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 5 })).json().data).toMatchObject({ quantity: 5 });
    expect((await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: -5 })).json().data).toMatchObject({ quantity: 0 });
    expect(await stock(a.id, product.id)).toBe(0);
  });

  it('refuses to go below zero with INSUFFICIENT_INVENTORY (422), naming what is available, and changes nothing', async () => {
    const product = await seed.product(a.key);
    await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 5 });
    const error = expectError(await expectUnchanged(api.database, () =>
      api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: -6 })), 422, 'INSUFFICIENT_INVENTORY', ['delta']);
    expect(error.details[0]).toMatchObject({ available: 5, requested: -6 });
    const never = await seed.product(a.key);
    expectError(await api.call('POST', `/v1/products/${never.id}/inventory/adjust`, a.key, { delta: -1 }), 422, 'INSUFFICIENT_INVENTORY');
    expect(await stock(a.id, never.id)).toBeUndefined();
  });

  it('applies an adjustment retried with the same Idempotency-Key once, replaying the first response', async () => {
    const product = await seed.product(a.key);
    const adjust = (delta: number, key: string, id = product.id, tenantKey = a.key) =>
      api.call('POST', `/v1/products/${id}/inventory/adjust`, tenantKey, { delta }, { 'idempotency-key': key });
    const first = await adjust(4, 'restock-1');
    expect(first.statusCode).toBe(200);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const retries = await Promise.all([adjust(4, 'restock-1'), adjust(4, 'restock-1')]);
    for (const retry of retries) {
      expect([retry.statusCode, retry.headers['idempotent-replayed'], retry.body]).toEqual([200, 'true', first.body]);
    }
    expect(await stock(a.id, product.id)).toBe(4);

    expectError(await adjust(5, 'restock-1'), 422, 'IDEMPOTENCY_KEY_REUSED');
    const other = await seed.product(a.key);
    expectError(await adjust(4, 'restock-1', other.id), 422, 'IDEMPOTENCY_KEY_REUSED');
    expect(await stock(a.id, other.id)).toBeUndefined();
    // Keys are the tenant's own: another tenant's same key is a new request.
    const theirs = await seed.product(b.key);
    expect((await adjust(4, 'restock-1', theirs.id, b.key)).headers['idempotent-replayed']).toBeUndefined();
    expect(await stock(b.id, theirs.id)).toBe(4);
  });

  it('forgets the key of a refused adjustment: the retry after restocking applies', async () => {
    const product = await seed.product(a.key);
    const take = () => api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: -2 }, { 'idempotency-key': 'take-1' });
    expectError(await take(), 422, 'INSUFFICIENT_INVENTORY');
    await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 3 });
    expect((await take()).statusCode).toBe(200);
    expect(await stock(a.id, product.id)).toBe(1);
  });

  it('refuses a zero delta with VALIDATION_FAILED on delta, and changes nothing', async () => {
    const product = await seed.product(a.key);
    const response = await expectUnchanged(api.database, () =>
      api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 0 }));
    expectError(response, 400, 'VALIDATION_FAILED', ['delta']);
  });

  it('lets exactly as many of 20 concurrent decrements succeed as there is stock', async () => {
    const product = await seed.product(a.key);
    await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 12 });
    const responses = await Promise.all(Array.from({ length: 20 }, () =>
      api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: -1 })));
    expect(responses.filter((response) => response.statusCode === 200)).toHaveLength(12);
    for (const response of responses.filter((response) => response.statusCode !== 200)) expectError(response, 422, 'INSUFFICIENT_INVENTORY');
    expect(await stock(a.id, product.id)).toBe(0);
  });

  // The delta is in bounds; it is the sum that the int4 column cannot hold: a data rule, hence 422.
  it('refuses stock past 2^31 - 1 with CHECK_VIOLATION (422), and changes nothing', async () => {
    const product = await seed.product(a.key);
    await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 2_147_483_000 });
    const response = await expectUnchanged(api.database, () =>
      api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 1000 }));
    expectError(response, 422, 'CHECK_VIOLATION', ['delta']);
    expect(await stock(a.id, product.id)).toBe(2_147_483_000);
  });

  it('refuses deltas that are not int4 integers', async () => {
    const product = await seed.product(a.key);
    await expectUnchanged(api.database, async () => {
      for (const delta of ['2.5', '2147483648', '-9223372036854775809', '1e309', '"5"', 'null', '[]']) {
        const response = await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, `{"delta":${delta}}`, json);
        expectError(response, 400, 'VALIDATION_FAILED', ['delta']);
      }
      expectError(await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, {}), 400, 'VALIDATION_FAILED', ['delta']);
    });
  });
});

describe('another tenant\'s products', () => {
  it('answers 404 to B\'s key on every route naming A\'s product, keeps A\'s stock, and never lists it', async () => {
    const product = await seed.product(a.key, { tags: ['shared-tag'] });
    await api.call('POST', `/v1/products/${product.id}/inventory/adjust`, a.key, { delta: 7 });
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/products/${product.id}`],
      ['PATCH', `/v1/products/${product.id}`, { price: 0.01 }],
      ['DELETE', `/v1/products/${product.id}`],
      ['GET', `/v1/products/${product.id}/inventory`],
      ['POST', `/v1/products/${product.id}/inventory/adjust`, { delta: 5 }],
      ['POST', `/v1/products/${product.id}/inventory/adjust`, { delta: -7 }],
    ];
    await expectUnchanged(api.database, async () => {
      for (const [method, url, body] of routes) expectError(await api.call(method, url, b.key, body), 404, 'NOT_FOUND');
    });
    expect(await stock(a.id, product.id)).toBe(7);
    expect((await walkPages(api, '/v1/products', b.key, 500)).rows.map((row) => row.id)).not.toContain(product.id);
    expect((await api.call('GET', '/v1/products?tag=shared-tag', b.key)).json().data).toEqual([]);
  });
});

describe('authentication on product routes', () => {
  it('refuses a missing, wrong, revoked or admin key with 401 on every route, and changes nothing', async () => {
    const product = await seed.product(a.key);
    const revoked = await seed.revokedKey(a.key);
    await expectAuthRequired(api, [
      { method: 'POST', url: '/v1/products', body: { name: 'X', slug: 'x' } },
      { method: 'GET', url: '/v1/products' },
      { method: 'GET', url: `/v1/products/${product.id}` },
      { method: 'PATCH', url: `/v1/products/${product.id}`, body: { name: 'Y' } },
      { method: 'DELETE', url: `/v1/products/${product.id}` },
      { method: 'GET', url: `/v1/products/${product.id}/inventory` },
      { method: 'POST', url: `/v1/products/${product.id}/inventory/adjust`, body: { delta: 1 } },
    ], a, revoked);
  });
});
