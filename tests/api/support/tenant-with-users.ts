import { randomUUID } from 'node:crypto';
import type { TestApi } from '../helpers.js';

/** A tenant made through the API, with `count` users inserted beside it: its id, key and user ids. */
export async function tenantWithUsers(api: TestApi, name: string, count: number): Promise<{ id: number; key: string; users: number[] }> {
  const tenant = await api.tenant(name);
  const users = await api.database.admin.insertInto('app_user').values(Array.from({ length: count }, (_, index) => ({
    tenant_id: tenant.id, email: `${name}${index}-${randomUUID().slice(0, 6)}@example.com`, username: `${name}${index}`,
  }))).returning('id').execute();
  return { ...tenant, users: users.map((user) => user.id) };
}
