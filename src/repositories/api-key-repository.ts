import { sql } from 'kysely';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';

/** A key to store: only the sha-256 of its secret, never the secret. */
export interface NewApiKey {
  name: string;
  prefix: string;
  keyHash: string;
  readOnly: boolean;
}

/** One tenant's API keys. Issuing, checking and revoking them as a whole is services/api-keys.ts. */
export class ApiKeyRepository {
  constructor(private readonly trx: TenantTx) {}

  private get tenantId(): number {
    return tenantOf(this.trx);
  }

  async create(key: NewApiKey) {
    return this.trx.insertInto('api_key')
      .values({ tenant_id: this.tenantId, name: key.name, prefix: key.prefix, key_hash: key.keyHash, read_only: key.readOnly })
      .returning(['id', 'prefix', 'name', 'read_only', 'created_at'])
      .executeTakeFirstOrThrow();
  }

  /** The tenant's keys in id order, a page at a time (the caller validates limit). */
  async list(options: { afterId?: number; limit: number }) {
    let query = this.trx.selectFrom('api_key')
      .select(['id', 'name', 'prefix', 'read_only', 'created_at', 'last_used_at', 'revoked_at'])
      .where('tenant_id', '=', this.tenantId);
    if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
    return query.orderBy('id').limit(options.limit).execute();
  }

  /**
   * The ids of the tenant's active read-write keys, in id order, locked until the transaction ends:
   * a concurrent caller waits, then sees what this transaction changed.
   */
  async lockActiveWriters(): Promise<number[]> {
    const rows = await this.trx.selectFrom('api_key').select('id')
      .where('tenant_id', '=', this.tenantId).where('revoked_at', 'is', null).where('read_only', '=', false)
      .orderBy('id').forUpdate().execute();
    return rows.map((row) => row.id);
  }

  /** Marks an active key revoked; NOT_FOUND if the tenant has no such active key. */
  async revoke(id: number): Promise<void> {
    const result = await this.trx.updateTable('api_key').set({ revoked_at: sql`now()` })
      .where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw new StrataError('NOT_FOUND', `API key ${id} does not exist`);
  }
}
