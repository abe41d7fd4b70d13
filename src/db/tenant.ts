import { sql, type Transaction } from 'kysely';
import { z } from 'zod';
import type { DB } from './schema.generated.js';
import { APP_ROLE, type Database } from './database.js';
import { StrataError, translateDatabaseError } from '../errors.js';
import { onCitusCluster } from './distribution.js';

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
// Whether the transactions withTenant opened run on a Citus cluster; some statements take another
// form there.
const onCluster = new WeakMap<object, boolean>();

/** Whether a scoped transaction runs on a Citus cluster; undefined when withTenant did not open it. */
export function runsOnCluster(trx: TenantTx): boolean | undefined {
  return onCluster.get(trx);
}

/** Marks a builder or connection as scoped to a tenant, for tenantOf. */
export function bindTenant(target: object, scope: TenantContext): void {
  contexts.set(target, scope);
}

/** The tenant a scoped transaction belongs to; repositories stamp it on every row they write. */
export function tenantOf(trx: TenantTx): number {
  const context = contexts.get(trx);
  if (!context) throw new StrataError('INTERNAL', 'a tenant-scoped transaction was used outside withTenant');
  return context.tenantId;
}

export function parseContext(context: TenantContext): { tenantId: number; actorId: number | null } {
  const parsed = contextSchema.safeParse(context);
  if (!parsed.success) {
    throw new StrataError('VALIDATION_FAILED', 'a tenant context needs a positive integer tenantId',
      parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
  }
  return { tenantId: parsed.data.tenantId, actorId: parsed.data.actorId ?? null };
}

// Transaction-local, so a pooled connection never carries them past COMMIT. SET LOCAL rather than
// set_config(): on a Citus cluster only SET LOCAL is propagated to the workers, where the tenant
// policy and the audit triggers of the shards read these settings (citus.propagate_set_commands).
// On a cluster the scope turns that propagation on itself, for its transaction: the database-wide
// setting (migration 0018) reaches only connections opened after it, and `strata serve` migrates
// with the pool it then serves from.
export function scopeStatement(
  { tenantId, actorId }: { tenantId: number; actorId: number | null }, { role = true, cluster = false } = {},
): string {
  // Both ids are validated safe integers, so writing them into the statement cannot inject anything.
  return `${cluster ? "set local citus.propagate_set_commands = 'local'; " : ''}${role ? `set local role ${APP_ROLE}; ` : ''}`
    + `set local app.tenant_id = '${tenantId}'; set local app.actor_id = '${actorId ?? ''}'`;
}

/**
 * Switches an already open transaction (e.g. the admin's) to one tenant's scope. `keepRole` leaves
 * the admin's role in place, for the one write that must see rows the admin wrote just before: on a
 * Citus cluster a role switch moves the work to new worker connections, opened as that role, which
 * cannot see the transaction's earlier writes (a new tenant's row, to its first key's foreign key).
 * Such a write is guarded by the tenant id the scope stamps, not by the policy.
 */
export async function scopeTransaction(
  trx: Transaction<DB>, context: TenantContext, { keepRole = false, cluster = false } = {},
): Promise<TenantTx> {
  const scope = parseContext(context);
  await sql.raw(scopeStatement(scope, { role: !keepRole, cluster })).execute(trx);
  contexts.set(trx, scope);
  return trx as TenantTx;
}

export interface TenantTransactionOptions {
  /** `ingest` takes the connection from the ingest pool, so batches never wait for or hold the readers'. */
  pool?: 'default' | 'ingest';
  /**
   * Aborted when nobody waits for the outcome any more (the client went away): the transaction then
   * rolls back instead of committing, and fails with CLIENT_CLOSED_REQUEST.
   */
  signal?: AbortSignal;
}

function abandoned(signal: AbortSignal | undefined): StrataError | null {
  return signal?.aborted ? new StrataError('CLIENT_CLOSED_REQUEST') : null;
}

/**
 * Runs fn in a new transaction scoped to one tenant; database errors leave it translated. BEGIN and
 * the scope travel in one round trip (a simple-protocol batch): every tenant request saves one.
 */
export async function withTenant<T>(
  database: Database, context: TenantContext, fn: (trx: TenantTx) => Promise<T>, options: TenantTransactionOptions = {},
): Promise<T> {
  const scope = parseContext(context);
  const gone = abandoned(options.signal);
  if (gone) throw gone;
  const db = options.pool === 'ingest' ? database.ingest : database.admin;
  try {
    // Asked once per database, over a connection of its own.
    const citus = await onCitusCluster(database);
    return await db.connection().execute(async (connection) => {
      try {
        // Inside the try: a scope that fails after BEGIN must not leave the pooled connection in an
        // aborted transaction, where every later request on it would fail.
        await sql.raw(`begin; ${scopeStatement(scope, { cluster: citus })}`).execute(connection);
        contexts.set(connection, scope);
        onCluster.set(connection, citus);
        const result = await fn(connection as unknown as TenantTx);
        // Checked last: the work is done, but a write nobody will hear about must not become durable.
        const goneBeforeCommit = abandoned(options.signal);
        if (goneBeforeCommit) throw goneBeforeCommit;
        await sql.raw('commit').execute(connection);
        return result;
      } catch (error) {
        await sql.raw('rollback').execute(connection).catch(() => undefined);
        throw error;
      }
    });
  } catch (error) {
    throw translateDatabaseError(error);
  }
}
