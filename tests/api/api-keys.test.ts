import { beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from './helpers.js';

let api: TestApi;

beforeAll(async () => {
  api = await testApi();
});

const keysOf = async (tenantId: number) => api.database.admin.selectFrom('api_key')
  .select(['id', 'revoked_at', 'read_only']).where('tenant_id', '=', tenantId).orderBy('id').execute();

describe('a tenant revoking its own keys', () => {
  it('refuses to revoke its last active read-write key with 409 LAST_ACTIVE_KEY and revokes nothing', async () => {
    const tenant = await api.tenant('Solo');
    const [only] = await keysOf(tenant.id);
    const response = await api.call('DELETE', `/v1/api-keys/${only!.id}`, tenant.key);
    expect(response.statusCode).toBe(409);
    expect(response.json().error.code).toBe('LAST_ACTIVE_KEY');
    expect((await keysOf(tenant.id)).map((key) => key.revoked_at)).toEqual([null]);
    expect((await api.call('GET', '/v1/api-keys', tenant.key)).statusCode).toBe(200);
  });

  it('does not count read-only keys as a way back in', async () => {
    const tenant = await api.tenant('Reader');
    await api.call('POST', '/v1/api-keys', tenant.key, { name: 'dashboard', readOnly: true });
    const [writer] = await keysOf(tenant.id);
    const response = await api.call('DELETE', `/v1/api-keys/${writer!.id}`, tenant.key);
    expect([response.statusCode, response.json().error.code]).toEqual([409, 'LAST_ACTIVE_KEY']);
  });

  it('lets exactly one of two concurrent revocations of its last two writers through', async () => {
    const tenant = await api.tenant('Race');
    const second = (await api.call('POST', '/v1/api-keys', tenant.key, { name: 'second' })).json().data;
    const [first] = await keysOf(tenant.id);
    const statuses = await Promise.all([
      api.call('DELETE', `/v1/api-keys/${first!.id}`, second.key),
      api.call('DELETE', `/v1/api-keys/${second.id}`, tenant.key),
    ]).then((responses) => responses.map((response) => response.statusCode).sort());
    // The other is refused: 409 when both reached the check together (the keys' row locks make it
    // wait, then see one writer left), 401 when it arrived after the first had revoked its own key.
    expect(statuses[0]).toBe(204);
    expect([401, 409]).toContain(statuses[1]);
    expect((await keysOf(tenant.id)).filter((key) => key.revoked_at === null)).toHaveLength(1);
  });
});

describe('read-only keys', () => {
  it('read every route of their tenant and are refused any write with 403 READ_ONLY_KEY, changing nothing', async () => {
    const tenant = await api.tenant('Dash');
    const created = await api.call('POST', '/v1/api-keys', tenant.key, { name: 'dashboard', readOnly: true });
    expect(created.statusCode).toBe(201);
    expect(created.json().data).toMatchObject({ name: 'dashboard', readOnly: true });
    const reader = created.json().data.key as string;
    expect((await api.call('GET', '/v1/users', reader)).statusCode).toBe(200);
    expect((await api.call('HEAD', '/v1/products', reader)).statusCode).toBe(200);
    const writes: Array<[string, string, unknown]> = [
      ['POST', '/v1/users', { email: 'r@x.io', username: 'r' }],
      ['POST', '/v1/api-keys', { name: 'escalate' }],
      ['DELETE', `/v1/api-keys/${created.json().data.id}`, undefined],
      ['PATCH', '/v1/users/1', { username: 'x' }],
    ];
    for (const [method, url, body] of writes) {
      const response = await api.call(method, url, reader, body);
      expect([method, url, response.statusCode, response.json().error.code]).toEqual([method, url, 403, 'READ_ONLY_KEY']);
    }
    expect(await api.database.admin.selectFrom('app_user').where('tenant_id', '=', tenant.id).selectAll().execute()).toEqual([]);
    expect(await keysOf(tenant.id)).toHaveLength(2);
    const listed = (await api.call('GET', '/v1/api-keys', tenant.key)).json().data;
    expect(listed.map((key: { readOnly: boolean }) => key.readOnly)).toEqual([false, true]);
  });
});

describe('/v1/tenants/:id/api-keys (admin key)', () => {
  it('issues a working key for an existing tenant, lists and revokes it (its last one too)', async () => {
    const tenant = await api.tenant('Managed');
    const issued = await api.call('POST', `/v1/tenants/${tenant.id}/api-keys`, api.adminKey, { name: 'ops' });
    expect(issued.statusCode).toBe(201);
    const key = issued.json().data;
    expect(key.key).toMatch(new RegExp(`^strata_${tenant.id}_`));
    expect((await api.call('GET', '/v1/users', key.key)).statusCode).toBe(200);

    const listed = await api.call('GET', `/v1/tenants/${tenant.id}/api-keys`, api.adminKey);
    expect(listed.json().data.map((row: { name: string }) => row.name)).toEqual(['default', 'ops']);
    expect(JSON.stringify(listed.json())).not.toContain(key.key);

    const [first] = await keysOf(tenant.id);
    expect((await api.call('DELETE', `/v1/tenants/${tenant.id}/api-keys/${first!.id}`, api.adminKey)).statusCode).toBe(204);
    // The revoked key was just used: its cached session must not outlive the revocation.
    expect((await api.call('GET', '/v1/users', tenant.key)).statusCode).toBe(401);
    expect((await api.call('DELETE', `/v1/tenants/${tenant.id}/api-keys/${key.id}`, api.adminKey)).statusCode).toBe(204);
    expect((await api.call('GET', '/v1/users', key.key)).statusCode).toBe(401);
  });

  it('issues read-only keys', async () => {
    const tenant = await api.tenant('Reports');
    const key = (await api.call('POST', `/v1/tenants/${tenant.id}/api-keys`, api.adminKey, { name: 'bi', readOnly: true })).json().data;
    expect(key.readOnly).toBe(true);
    expect((await api.call('POST', '/v1/products', key.key, { name: 'x', slug: 'x', price: 1 })).json().error.code).toBe('READ_ONLY_KEY');
  });

  it('answers 404 for a tenant that does not exist, and for another tenant\'s key id', async () => {
    const a = await api.tenant('A');
    const b = await api.tenant('B');
    expect((await api.call('POST', '/v1/tenants/999999/api-keys', api.adminKey, {})).statusCode).toBe(404);
    expect((await api.call('GET', '/v1/tenants/999999/api-keys', api.adminKey)).statusCode).toBe(404);
    const [aKey] = await keysOf(a.id);
    expect((await api.call('DELETE', `/v1/tenants/${b.id}/api-keys/${aKey!.id}`, api.adminKey)).statusCode).toBe(404);
    expect((await keysOf(a.id)).map((key) => key.revoked_at)).toEqual([null]);
  });

  it('refuses tenant keys with 401', async () => {
    const tenant = await api.tenant('Self');
    expect((await api.call('POST', `/v1/tenants/${tenant.id}/api-keys`, tenant.key, {})).statusCode).toBe(401);
    expect((await api.call('GET', `/v1/tenants/${tenant.id}/api-keys`, tenant.key)).statusCode).toBe(401);
  });
});
