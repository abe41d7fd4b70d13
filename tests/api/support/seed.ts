import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import type { TestApi } from '../helpers.js';

type Row = Record<string, unknown> & { id: number };

let counter = 0;
/** Unique across the file (and its reruns against the same template): slugs and emails never collide by accident. */
export function unique(prefix: string): string {
  counter += 1;
  return `${prefix}-${counter}-${randomBytes(3).toString('hex')}`;
}

async function created(api: TestApi, url: string, key: string, body: unknown): Promise<Row> {
  const response = await api.call('POST', url, key, body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json().data;
}

/** Rows created through the API, as a tenant's key would create them. */
export function seeder(api: TestApi) {
  return {
    user: (key: string, body: Record<string, unknown> = {}) => {
      const name = unique('user');
      return created(api, '/v1/users', key, { email: `${name}@example.com`, username: name, ...body });
    },
    organization: (key: string, body: Record<string, unknown> = {}) =>
      created(api, '/v1/organizations', key, { name: 'Org', slug: unique('org'), ...body }),
    team: (key: string, organizationId: number, body: Record<string, unknown> = {}) =>
      created(api, `/v1/organizations/${organizationId}/teams`, key, { name: 'Team', slug: unique('team'), ...body }),
    project: (key: string, body: Record<string, unknown> = {}) =>
      created(api, '/v1/projects', key, { name: 'Project', slug: unique('project'), ...body }),
    product: (key: string, body: Record<string, unknown> = {}) =>
      created(api, '/v1/products', key, { name: 'Product', slug: unique('product'), ...body }),
    /** A second key of the tenant, already revoked. */
    async revokedKey(key: string): Promise<string> {
      const issued = (await api.call('POST', '/v1/api-keys', key, { name: 'to revoke' })).json().data;
      expect((await api.call('DELETE', `/v1/api-keys/${issued.id}`, key)).statusCode).toBe(204);
      return issued.key;
    },
  };
}
