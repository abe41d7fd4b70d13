import type { Database } from '../db/database.js';
import { onCitusCluster } from '../db/distribution.js';
import { scopeTransaction } from '../db/tenant.js';
import { translateDatabaseError } from '../errors.js';
import type { TenantInput } from '../models/tenant.js';
import { TenantRepository } from '../repositories/tenant-repository.js';
import { issueTenantKey } from './api-keys.js';

/** Creates a tenant and its first API key in one transaction: never a tenant nobody can reach. */
export async function createTenantWithKey(database: Database, input: TenantInput) {
  try {
    const cluster = await onCitusCluster(database);
    return await database.admin.transaction().execute(async (trx) => {
      const tenant = await new TenantRepository(trx).create(input);
      const apiKey = await issueTenantKey(await scopeTransaction(trx, { tenantId: tenant.id }, { keepRole: true, cluster }), 'default');
      return { tenant, apiKey };
    });
  } catch (error) {
    throw translateDatabaseError(error);
  }
}
