import { sql, type Transaction } from 'kysely';
import { z } from 'zod';
import type { DB } from './schema.generated.js';
import { APP_ROLE, type Database } from './database.js';
import { StrataError, translateDatabaseError } from '../errors.js';

declare const tenantScoped: unique symbol;

export interface TenantContext {
  readonly tenantId: number;
  /** The user or API key acting; recorded by the audit triggers. */
  readonly actorId?: number | null;
}

/**
 * A transaction running as the application role with `app.tenant_id` set. Repositories for
 * tenant data accept only this type, so an unscoped query does not compile.
 */
export type TenantTx = Transaction<DB> & { readonly [tenantScoped]: TenantContext };

const contextSchema = z.object({
  tenantId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  actorId: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).nullable().optional(),
});

const contexts = new WeakMap<object, TenantContext>();

/** The tenant a scoped transaction belongs to; repositories stamp it on every row they write. */
export function tenantOf(trx: TenantTx): number {
  const context = contexts.get(trx);
  if (!context) throw new StrataError('INTERNAL', 'a tenant-scoped transaction was used outside withTenant');
  return context.tenantId;
}

/**
 * Switches an open transaction to the application role with the tenant and actor set
 * transaction-locally (so a pooled connection never carries them into the next request).
 */
export async function scopeTransaction(trx: Transaction<DB>, context: TenantContext): Promise<TenantTx> {
  const parsed = contextSchema.safeParse(context);
  if (!parsed.success) {
    throw new StrataError('VALIDATION_FAILED', 'a tenant context needs a positive integer tenantId',
      parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
  }
  const { tenantId, actorId } = parsed.data;
  await sql`select set_config('role', ${APP_ROLE}, true), set_config('app.tenant_id', ${String(tenantId)}, true),
    set_config('app.actor_id', ${actorId == null ? '' : String(actorId)}, true)`.execute(trx);
  contexts.set(trx, { tenantId, actorId: actorId ?? null });
  return trx as TenantTx;
}

/** Runs fn in a new transaction scoped to one tenant; database errors leave it translated. */
export async function withTenant<T>(database: Database, context: TenantContext, fn: (trx: TenantTx) => Promise<T>): Promise<T> {
  try {
    return await database.admin.transaction().execute(async (trx) => fn(await scopeTransaction(trx, context)));
  } catch (error) {
    throw translateDatabaseError(error);
  }
}
