import { createHash } from 'node:crypto';
import pg from 'pg';
import {
  Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql,
  type Compilable, type DatabaseConnection, type Driver, type Transaction,
} from 'kysely';
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

function parseContext(context: TenantContext): { tenantId: number; actorId: number | null } {
  const parsed = contextSchema.safeParse(context);
  if (!parsed.success) {
    throw new StrataError('VALIDATION_FAILED', 'a tenant context needs a positive integer tenantId',
      parsed.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
  }
  return { tenantId: parsed.data.tenantId, actorId: parsed.data.actorId ?? null };
}

// Transaction-local (the third argument), so a pooled connection never carries them past COMMIT.
function scopeStatement({ tenantId, actorId }: { tenantId: number; actorId: number | null }): string {
  // Both ids are validated safe integers, so writing them into the statement cannot inject anything.
  return `select set_config('role', '${APP_ROLE}', true), set_config('app.tenant_id', '${tenantId}', true),
    set_config('app.actor_id', '${actorId ?? ''}', true)`;
}

/** Switches an already open transaction (e.g. the admin's, creating a tenant) to one tenant's scope. */
export async function scopeTransaction(trx: Transaction<DB>, context: TenantContext): Promise<TenantTx> {
  const scope = parseContext(context);
  await sql.raw(scopeStatement(scope)).execute(trx);
  contexts.set(trx, scope);
  return trx as TenantTx;
}

/**
 * Runs fn in a new transaction scoped to one tenant; database errors leave it translated. BEGIN and
 * the scope travel in one round trip (a simple-protocol batch): every tenant request saves one.
 */
export async function withTenant<T>(database: Database, context: TenantContext, fn: (trx: TenantTx) => Promise<T>): Promise<T> {
  const scope = parseContext(context);
  try {
    return await database.admin.connection().execute(async (connection) => {
      await sql.raw(`begin; ${scopeStatement(scope)}`).execute(connection);
      contexts.set(connection, scope);
      try {
        const result = await fn(connection as unknown as TenantTx);
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

/** Builds queries and refuses to run them: a read built for readAsTenant can never run unscoped. */
class CompileOnlyDriver implements Driver {
  async init(): Promise<void> {}
  async acquireConnection(): Promise<DatabaseConnection> {
    throw new StrataError('INTERNAL', 'a query built for readAsTenant was executed directly');
  }
  async beginTransaction(): Promise<void> {}
  async commitTransaction(): Promise<void> {}
  async rollbackTransaction(): Promise<void> {}
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {}
}

const compiler = new Kysely<DB>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new CompileOnlyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

// Statements prepared with SQL PREPARE on each pooled connection. A connection that failed mid-batch
// is destroyed rather than returned, so this never claims a statement the server does not hold.
const preparedOn = new WeakMap<pg.PoolClient, Set<string>>();

function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return pg.escapeLiteral(value);
  throw new StrataError('INTERNAL', `readAsTenant takes numbers, strings and booleans as parameters, not ${typeof value}`);
}

function argumentList(parameters: readonly unknown[]): string {
  return parameters.length === 0 ? '' : `(${parameters.map(literal).join(', ')})`;
}

/**
 * One tenant-scoped read statement in one round trip. withTenant needs three (BEGIN with the scope,
 * the statement, COMMIT); here the scope and the statement travel in one simple-protocol message,
 * which PostgreSQL runs as one implicit transaction: the scope is transaction-local, so it ends
 * with the statement, and a failure rolls both back. The simple protocol takes no parameters, so
 * the statement is prepared with SQL PREPARE once per connection (its plan is reused, as with
 * executePrepared) and run by EXECUTE with its parameters as escaped literals.
 *
 * build receives a tenant-scoped builder that only compiles: repositories build their query with it
 * unchanged, and executing it directly throws instead of running outside the scope.
 */
export async function readAsTenant<R>(database: Database, context: TenantContext, build: (trx: TenantTx) => Compilable<R>): Promise<R[]> {
  const scope = parseContext(context);
  const builder = compiler.withoutPlugins();
  contexts.set(builder, scope);
  const compiled = build(builder as unknown as TenantTx).compile();
  // Hex: an unquoted identifier, unchanged by PostgreSQL's case folding.
  const name = `strata_r_${createHash('sha1').update(compiled.sql).digest('hex').slice(0, 32)}`;
  const client = await database.pool.connect().catch((error: unknown) => {
    throw translateDatabaseError(error);
  });
  let prepared = preparedOn.get(client);
  if (!prepared) preparedOn.set(client, prepared = new Set());
  const prepare = prepared.has(name) ? '' : `prepare ${name} as ${compiled.sql}; `;
  try {
    const results = await client.query(
      `${scopeStatement(scope)}; ${prepare}execute ${name}${argumentList(compiled.parameters)}`) as unknown as pg.QueryResult[];
    prepared.add(name);
    client.release();
    return results.at(-1)!.rows as R[];
  } catch (error) {
    client.release(true);
    throw translateDatabaseError(error);
  }
}
