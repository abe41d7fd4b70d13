import { beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from './helpers.js';

let api: TestApi;

beforeAll(async () => {
  api = await testApi();
});

describe('POST /v1/tenants', () => {
  it('creates a tenant and returns its first key once, stored only as a hash', async () => {
    const response = await api.call('POST', '/v1/tenants', api.adminKey, { name: 'Acme', slug: 'acme' });
    expect(response.statusCode).toBe(201);
    const body = response.json().data;
    expect(body.tenant).toMatchObject({ name: 'Acme', slug: 'acme' });
    expect(body.apiKey.key).toMatch(new RegExp(`^strata_${body.tenant.id}_`));
    const stored = await api.database.admin.selectFrom('api_key').selectAll().where('tenant_id', '=', body.tenant.id).execute();
    expect(stored).toHaveLength(1);
    expect(JSON.stringify(stored)).not.toContain(body.apiKey.key.split('_').pop());
  });

  it('rejects a duplicate slug with CONFLICT', async () => {
    await api.call('POST', '/v1/tenants', api.adminKey, { name: 'Dup', slug: 'dup' });
    const response = await api.call('POST', '/v1/tenants', api.adminKey, { name: 'Dup 2', slug: 'dup' });
    expect(response.statusCode).toBe(409);
    expect(response.json().error.code).toBe('CONFLICT');
  });

  it('rejects unknown fields and names each bad field', async () => {
    const response = await api.call('POST', '/v1/tenants', api.adminKey, { name: '', slug: 'Bad Slug', extra: 1 });
    expect(response.statusCode).toBe(400);
    const { error } = response.json();
    expect(error.code).toBe('VALIDATION_FAILED');
    expect(error.details.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a tenant key and a missing key with 401', async () => {
    const tenant = await api.tenant();
    expect((await api.call('POST', '/v1/tenants', tenant.key, { name: 'X', slug: 'x' })).statusCode).toBe(401);
    expect((await api.call('GET', '/v1/tenants', null)).statusCode).toBe(401);
    expect((await api.call('GET', '/v1/tenants', 'strata_admin_' + 'A'.repeat(43))).statusCode).toBe(401);
  });
});

describe('DELETE /v1/tenants/:id', () => {
  it('deletes the tenant with all of its data and its keys stop working', async () => {
    const tenant = await api.tenant('Doomed');
    expect((await api.call('GET', '/v1/api-keys', tenant.key)).statusCode).toBe(200);
    expect((await api.call('DELETE', `/v1/tenants/${tenant.id}`, api.adminKey)).statusCode).toBe(204);
    expect((await api.call('GET', '/v1/api-keys', tenant.key)).statusCode).toBe(401);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}`, api.adminKey)).statusCode).toBe(404);
    const left = await api.database.admin.selectFrom('audit_log').where('tenant_id', '=', tenant.id).select('id').execute();
    expect(left).toEqual([]);
  });
});

describe('/v1/api-keys', () => {
  it('creates, lists and revokes a key; a revoked key gets 401 on its next request', async () => {
    const tenant = await api.tenant();
    const created = await api.call('POST', '/v1/api-keys', tenant.key, { name: 'ci' });
    expect(created.statusCode).toBe(201);
    const second = created.json().data;
    expect((await api.call('GET', '/v1/api-keys', second.key)).json().data).toHaveLength(2);
    expect((await api.call('DELETE', `/v1/api-keys/${second.id}`, tenant.key)).statusCode).toBe(204);
    expect((await api.call('GET', '/v1/api-keys', second.key)).statusCode).toBe(401);
  });

  it('answers 404 for another tenant\'s key id and revokes nothing', async () => {
    const a = await api.tenant('A');
    const b = await api.tenant('B');
    const aKeys = (await api.call('GET', '/v1/api-keys', a.key)).json().data;
    expect((await api.call('DELETE', `/v1/api-keys/${aKeys[0].id}`, b.key)).statusCode).toBe(404);
    expect((await api.call('GET', '/v1/api-keys', a.key)).statusCode).toBe(200);
  });

  it('lists keys a page at a time, oldest first, each once, never another tenant\'s', async () => {
    const a = await api.tenant('Paged');
    const b = await api.tenant('Other');
    for (let index = 0; index < 4; index += 1) await api.call('POST', '/v1/api-keys', a.key, { name: `k${index}` });
    await api.call('POST', '/v1/api-keys', b.key, { name: 'not yours' });
    const pages: Array<Array<{ id: number; name: string }>> = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const response = await api.call('GET', `/v1/api-keys?limit=2${cursor ? `&cursor=${cursor}` : ''}`, a.key);
      expect(response.statusCode).toBe(200);
      const body = response.json<{ data: Array<{ id: number; name: string }>; nextCursor: string | null }>();
      pages.push(body.data);
      cursor = body.nextCursor;
    }
    expect(pages.map((rows) => rows.length)).toEqual([2, 2, 1]);
    const names = pages.flat().map((row) => row.name);
    expect(names).toEqual(['default', 'k0', 'k1', 'k2', 'k3']);
    const ids = pages.flat().map((row) => row.id);
    expect(ids).toEqual([...ids].sort((x, y) => x - y));
    for (const query of ['limit=0', 'limit=1001', 'cursor=bm90LWEtY3Vyc29y', 'sort=name']) {
      const response = await api.call('GET', `/v1/api-keys?${query}`, a.key);
      expect([query, response.statusCode, response.json().error.code]).toEqual([query, 400, 'VALIDATION_FAILED']);
    }
  });
});
