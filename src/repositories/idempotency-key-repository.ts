import { sql, type Kysely } from 'kysely';
import type { DB } from '../db/schema.generated.js';
import { tenantOf, type TenantTx } from '../db/tenant.js';

/** A request already answered under a key: its body's hash and the response it got. */
export interface StoredRequest {
  requestHash: string;
  statusCode: number | null;
  body: unknown;
}

/** One tenant's idempotency keys: (scope, key) → the request's hash and, once answered, its response. */
export class IdempotencyKeyRepository {
  constructor(private readonly trx: TenantTx) {}

  private get tenantId(): number {
    return tenantOf(this.trx);
  }

  /**
   * Inserts the key's row; false if the key exists. A concurrent claim of the same key blocks on the
   * row until this transaction commits (it then finds the key) or rolls back (it then inserts).
   */
  async claim(scope: string, key: string, requestHash: string): Promise<boolean> {
    const claimed = await this.trx.insertInto('idempotency_key')
      .values({ tenant_id: this.tenantId, scope, key, request_hash: requestHash })
      .onConflict((oc) => oc.columns(['tenant_id', 'scope', 'key']).doNothing())
      .returning('key').executeTakeFirst();
    return claimed !== undefined;
  }

  async get(scope: string, key: string): Promise<StoredRequest> {
    const row = await this.trx.selectFrom('idempotency_key').select(['request_hash', 'status_code', 'response'])
      .where('tenant_id', '=', this.tenantId).where('scope', '=', scope).where('key', '=', key).executeTakeFirstOrThrow();
    return { requestHash: row.request_hash, statusCode: row.status_code, body: JSON.parse(row.response as string) as unknown };
  }

  async saveResponse(scope: string, key: string, statusCode: number, body: unknown): Promise<void> {
    await this.trx.updateTable('idempotency_key')
      // As a JSON string inside jsonb: jsonb reorders object keys, and a replay should be the same bytes.
      .set({ status_code: statusCode, response: JSON.stringify(JSON.stringify(body)) })
      .where('tenant_id', '=', this.tenantId).where('scope', '=', scope).where('key', '=', key).execute();
  }

  /**
   * Deletes at most `limit` keys of any tenant created more than `ttlHours` ago, in one statement;
   * how many it deleted. Takes the admin handle: retention crosses tenants.
   */
  static async deleteExpired(admin: Kysely<DB>, ttlHours: number, limit: number): Promise<number> {
    const result = await sql`
      delete from idempotency_key where (tenant_id, scope, key) in (
        select tenant_id, scope, key from idempotency_key
        where created_at < now() - make_interval(hours => ${ttlHours}) limit ${limit})`.execute(admin);
    return Number(result.numAffectedRows ?? 0n);
  }
}
