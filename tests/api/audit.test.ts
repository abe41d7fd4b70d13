import { beforeAll, describe, expect, it } from 'vitest';
import { auditedTables, auditEntityOfTable, auditEntityTables } from '../../src/models/audit.js';
import { expectAuthRequired } from './support/auth.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { forgedCursors, walkPages } from './support/pages.js';
import { twoTenants, type ApiTenant, type Seeder } from './support/two-tenants.js';

let api: CheckedApi, seed: Seeder, a: ApiTenant, b: ApiTenant;
let keyOfA: number;

beforeAll(async () => {
  ({ api, seed, a, b } = await twoTenants(checkedApi(), 'Audit'));
  keyOfA = (await api.call('GET', '/v1/api-keys', a.key)).json().data[0].id;
});

const history = async (query: string, key = a.key) => {
  const response = await api.call('GET', `/v1/audit?${query}`, key);
  expect(response.statusCode, response.body).toBe(200);
  return response.json<{ data: Record<string, unknown>[]; nextCursor: string | null }>();
};

describe('GET /v1/audit', () => {
  it('gives an entity\'s changes newest first, each with the acting key, the action and every changed field\'s old and new value', async () => {
    const product = await seed.product(a.key, { name: 'Lamp', price: 10 });
    expect((await api.call('PATCH', `/v1/products/${product.id}`, a.key, { name: 'Desk lamp', price: 12.5 })).statusCode).toBe(200);
    expect((await api.call('PATCH', `/v1/products/${product.id}`, a.key, { isActive: false })).statusCode).toBe(200);
    const { data, nextCursor } = await history(`entity=product&entityId=${product.id}`);
    expect(nextCursor).toBeNull();
    expect(data.map((entry) => [entry.action, entry.actorId, entry.changedFields])).toEqual([
      ['UPDATE', keyOfA, ['isActive']],
      ['UPDATE', keyOfA, ['name', 'price']],
      ['INSERT', keyOfA, expect.arrayContaining(['id', 'name', 'price', 'slug'])],
    ]);
    expect(data[0]!.changes).toEqual([{ field: 'isActive', old: true, new: false }]);
    expect(data[1]!.changes).toEqual([{ field: 'name', old: 'Lamp', new: 'Desk lamp' }, { field: 'price', old: 10, new: 12.5 }]);
    expect(data[2]!.changes).toContainEqual({ field: 'name', old: null, new: 'Lamp' });
    expect(data[2]).toEqual(expect.objectContaining({ id: expect.any(Number), createdAt: expect.any(String) }));
  });

  it('speaks the API\'s spelling: entity names as the routes say them, camelCase fields, no internal columns', async () => {
    const user = await seed.user(a.key);
    expect((await api.call('PATCH', `/v1/users/${user.id}`, a.key, { isActive: false })).statusCode).toBe(200);
    const { data } = await history(`entity=user&entityId=${user.id}`);
    expect(data.map((entry) => [entry.entity, entry.entityId, entry.action])).toEqual([['user', String(user.id), 'UPDATE'], ['user', String(user.id), 'INSERT']]);
    expect(data[0]!.changedFields).toEqual(['isActive']);
    const inserted = data[1]! as { changedFields: string[]; changes: { field: string }[] };
    expect(inserted.changedFields).toEqual(expect.arrayContaining(['createdAt', 'isActive', 'email', 'username']));
    const fields = [...inserted.changedFields, ...inserted.changes.map((change) => change.field)];
    expect(fields.filter((field) => !/^[a-z][A-Za-z0-9]*$/.test(field) || field === 'tenantId')).toEqual([]);
    expect(JSON.stringify(data)).not.toMatch(/tenant_?id|search/i);

    const keys = await history(`entity=apiKey&entityId=${keyOfA}`);
    expect(keys.data[0]!.changedFields).toEqual(expect.arrayContaining(['name', 'prefix']));
    expect(JSON.stringify(keys.data)).not.toMatch(/key_?hash|tenant_?id/i);
    expectError(await api.call('GET', `/v1/audit?entity=app_user&entityId=${user.id}`, a.key), 400, 'VALIDATION_FAILED', ['entity']);
  });

  it('names every audited table once, and reads each name back as its table', () => {
    expect(Object.values(auditEntityTables).sort()).toEqual([...auditedTables].sort());
    for (const table of auditedTables) expect(auditEntityTables[auditEntityOfTable[table]]).toBe(table);
  });

  it('keeps the history of a deleted entity, its deletion first', async () => {
    const organization = await seed.organization(a.key, { name: 'Gone' });
    expect((await api.call('DELETE', `/v1/organizations/${organization.id}`, a.key)).statusCode).toBe(204);
    const { data } = await history(`entity=organization&entityId=${organization.id}`);
    expect(data.map((entry) => entry.action)).toEqual(['DELETE', 'INSERT']);
    expect(data[0]!.changes).toContainEqual({ field: 'name', old: 'Gone', new: null });
  });

  it('finds an entity keyed by two ids by "teamId:userId"', async () => {
    const organization = await seed.organization(a.key);
    const team = await seed.team(a.key, organization.id);
    const user = await seed.user(a.key);
    expect((await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'member' })).statusCode).toBeLessThan(300);
    const { data } = await history(`entity=teamMember&entityId=${team.id}:${user.id}`);
    expect(data.map((entry) => entry.action)).toEqual(['INSERT']);
  });

  it('pages through a long history without skipping or repeating an entry', async () => {
    const product = await seed.product(a.key, { price: 1 });
    for (let price = 2; price <= 12; price += 1) {
      expect((await api.call('PATCH', `/v1/products/${product.id}`, a.key, { price })).statusCode).toBe(200);
    }
    const all = (await history(`entity=product&entityId=${product.id}&limit=100`)).data.map((entry) => entry.id);
    expect(all).toHaveLength(12);
    for (const limit of [1, 5, 12]) {
      const { rows } = await walkPages(api, `/v1/audit?entity=product&entityId=${product.id}`, a.key, limit);
      expect(rows.map((row) => row.id)).toEqual(all);
    }
  });

  it('answers NOT_FOUND for another tenant\'s entity, exactly as for one that never existed', async () => {
    const product = await seed.product(a.key);
    expectError(await api.call('GET', `/v1/audit?entity=product&entityId=${product.id}`, b.key), 404, 'NOT_FOUND');
    expectError(await api.call('GET', '/v1/audit?entity=product&entityId=999999999', a.key), 404, 'NOT_FOUND');
    expect((await api.call('PATCH', `/v1/products/${product.id}`, a.key, { price: 3 })).statusCode).toBe(200);
    const cursor = (await history(`entity=product&entityId=${product.id}&limit=1`)).nextCursor;
    expect(await history(`entity=product&entityId=${product.id}&cursor=${cursor}`, b.key)).toEqual({ data: [], nextCursor: null });
  });

  it.each([
    ['an unknown entity', 'entity=secrets&entityId=1', 'entity'],
    ['a table that is not audited', 'entity=user_activity&entityId=1', 'entity'],
    ['no entity', 'entityId=1', 'entity'],
    ['a malformed id', 'entity=product&entityId=1;drop', 'entityId'],
    ['no id', 'entity=product', 'entityId'],
    ['an unknown parameter', 'entity=product&entityId=1&table=x', 'table'],
  ])('refuses %s with VALIDATION_FAILED', async (_case, query, path) => {
    expectError(await api.call('GET', `/v1/audit?${query}`, a.key), 400, 'VALIDATION_FAILED', [path]);
  });

  it('refuses every cursor it did not issue', async () => {
    const product = await seed.product(a.key);
    for (const cursor of forgedCursors) {
      expectError(await api.call('GET', `/v1/audit?entity=product&entityId=${product.id}&cursor=${encodeURIComponent(cursor)}`, a.key),
        400, 'VALIDATION_FAILED', ['cursor']);
    }
  });

  it('answers 401 to every bad key', async () => {
    const revoked = await seed.revokedKey(a.key);
    await expectAuthRequired(api, [{ method: 'GET', url: '/v1/audit?entity=product&entityId=1' }], a, revoked);
  });
});
