import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.generated.js';
import { StrataError, translateDatabaseError } from '../errors.js';
import type { TenantInput } from '../models/tenant.js';

/**
 * Tenants are the one aggregate above the tenant boundary: every method takes the admin handle,
 * never a tenant-scoped transaction.
 */
export class TenantRepository {
  constructor(private readonly admin: Kysely<DB>) {}

  async create(input: TenantInput) {
    try {
      return await this.admin.insertInto('tenant').values(input).returningAll().executeTakeFirstOrThrow();
    } catch (error) {
      throw translateDatabaseError(error);
    }
  }

  async findById(id: number) {
    return this.admin.selectFrom('tenant').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getById(id: number) {
    const tenant = await this.findById(id);
    if (!tenant) throw new StrataError('NOT_FOUND', `tenant ${id} does not exist`);
    return tenant;
  }

  async list(options: { afterId?: number; limit: number }) {
    let query = this.admin.selectFrom('tenant').selectAll().orderBy('id').limit(options.limit);
    if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
    return query.execute();
  }

  /** Deletes the tenant and, through the cascading keys, every row it owns. */
  async delete(id: number): Promise<void> {
    const result = await this.admin.deleteFrom('tenant').where('id', '=', id).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new StrataError('NOT_FOUND', `tenant ${id} does not exist`);
  }
}
