import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { TenantRepository } from '../../src/repositories/tenant-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';

let database: TestDatabase;
let tenants: TenantRepository;

beforeAll(async () => {
  database = await migratedDatabase();
  tenants = new TenantRepository(database.admin);
});

describe('TenantRepository', () => {
  it('creates a tenant and reads it back by id', async () => {
    const created = await tenants.create({ name: 'Readable', slug: 'readable-tenant' });
    expect(created).toMatchObject({ name: 'Readable', slug: 'readable-tenant' });
    expect(await tenants.findById(created.id)).toEqual(created);
    expect(await tenants.getById(created.id)).toEqual(created);
  });

  it('answers a duplicate slug with CONFLICT, translated from the unique violation', async () => {
    await tenants.create({ name: 'First', slug: 'taken-slug' });
    await expect(tenants.create({ name: 'Second', slug: 'taken-slug' })).rejects.toMatchObject({ code: 'CONFLICT' });
  });

  it('finds no tenant for an unknown id, and getById names it in NOT_FOUND', async () => {
    expect(await tenants.findById(987_654_321)).toBeUndefined();
    await expect(tenants.getById(987_654_321)).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'tenant 987654321 does not exist' });
  });

  it('pages through tenants in id order, each page starting after the last id of the one before', async () => {
    const made = [];
    for (let index = 0; index < 3; index += 1) made.push(await createTenant(database, `Paged ${index}`));
    const all = await tenants.list({ limit: 1000 });
    expect(all.map((row) => row.id)).toEqual(expect.arrayContaining(made.map((tenant) => tenant.id)));
    expect(all.map((row) => row.id)).toEqual([...all.map((row) => row.id)].sort((a, b) => a - b));
    const after = await tenants.list({ afterId: made[0]!.id, limit: 2 });
    expect(after.map((row) => row.id)).toEqual([made[1]!.id, made[2]!.id]);
    expect((await tenants.list({ afterId: made[2]!.id, limit: 10 })).map((row) => row.id)).not.toContain(made[2]!.id);
  });

  it('deletes a tenant with every row it owns, then reports NOT_FOUND for it', async () => {
    const tenant = await createTenant(database, 'Doomed');
    const user = await createUser(database, tenant.id);
    await tenants.delete(tenant.id);
    expect(await tenants.findById(tenant.id)).toBeUndefined();
    const left = await database.admin.selectFrom('app_user').select('id').where('id', '=', user.id).execute();
    expect(left).toEqual([]);
    await expect(tenants.delete(tenant.id)).rejects.toMatchObject({ code: 'NOT_FOUND', message: `tenant ${tenant.id} does not exist` });
  });

  it('deleting one tenant leaves another tenant and its rows in place', async () => {
    const doomed = await createTenant(database, 'Gone');
    const kept = await createTenant(database, 'Kept');
    const user = await createUser(database, kept.id);
    await tenants.delete(doomed.id);
    expect(await tenants.getById(kept.id)).toMatchObject({ id: kept.id });
    const users = await withTenant(database, { tenantId: kept.id }, (trx) => trx.selectFrom('app_user').select('id').execute());
    expect(users.map((row) => row.id)).toEqual([user.id]);
  });
});
