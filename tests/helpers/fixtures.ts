import { randomBytes } from 'node:crypto';
import type { Database } from '../../src/db/database.js';
import { withTenant } from '../../src/db/tenant.js';
import { TenantRepository } from '../../src/repositories/tenant-repository.js';

export async function createTenant(database: Database, name = 'Tenant') {
  const slug = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}-${randomBytes(3).toString('hex')}`;
  return new TenantRepository(database.admin).create({ name, slug });
}

export async function createUser(database: Database, tenantId: number, email = `u-${randomBytes(4).toString('hex')}@example.com`) {
  return withTenant(database, { tenantId }, (trx) => trx.insertInto('app_user')
    .values({ tenant_id: tenantId, email, username: email.split('@')[0]! })
    .returningAll().executeTakeFirstOrThrow());
}
