import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.generated.js';

/**
 * Keys read as credentials, with the admin handle: authentication runs before any tenant scope
 * exists, and admin keys belong to no tenant. Rows carry the sha-256 of the secret, which the caller
 * compares in constant time.
 */
export class CredentialRepository {
  constructor(private readonly admin: Kysely<DB>) {}

  /** The active admin key with this prefix. */
  async findAdminKey(prefix: string) {
    return this.admin.selectFrom('admin_key').select(['id', 'key_hash'])
      .where('prefix', '=', prefix).where('revoked_at', 'is', null).executeTakeFirst();
  }

  async hasActiveAdminKey(): Promise<boolean> {
    return (await this.admin.selectFrom('admin_key').select('id').where('revoked_at', 'is', null).executeTakeFirst()) !== undefined;
  }

  /** Stores an admin key unless one with its prefix exists; whether it stored it. */
  async addAdminKey(prefix: string, keyHash: string): Promise<boolean> {
    const inserted = await this.admin.insertInto('admin_key').values({ prefix, key_hash: keyHash })
      .onConflict((oc) => oc.column('prefix').doNothing()).returning('id').executeTakeFirst();
    return inserted !== undefined;
  }

  /** The tenant's active key with this prefix. */
  async findTenantKey(tenantId: number, prefix: string) {
    return this.admin.selectFrom('api_key').select(['id', 'key_hash', 'last_used_at', 'read_only'])
      .where('tenant_id', '=', tenantId).where('prefix', '=', prefix)
      .where('revoked_at', 'is', null).executeTakeFirst();
  }

  async markTenantKeyUsed(tenantId: number, id: number): Promise<void> {
    await this.admin.updateTable('api_key').set({ last_used_at: sql`now()` })
      .where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }
}
