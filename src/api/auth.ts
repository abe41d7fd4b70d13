import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Database } from '../db/database.js';
import { withTenant, type TenantContext, type TenantTransactionOptions, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import { authenticate, type Principal } from '../services/api-keys.js';

/** Who may call a route: `tenant-or-admin` takes either kind of key, and the route answers each its own view. */
export type Access = 'public' | 'admin' | 'tenant' | 'tenant-or-admin';

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal: Principal | null;
    /**
     * Runs fn in a transaction scoped to the caller's tenant, with the key as the audit actor: the one
     * way a route reaches tenant data (a repository or a use case built on the transaction).
     */
    inTenant<T>(fn: (trx: TenantTx) => Promise<T>, options?: TenantTransactionOptions): Promise<T>;
  }
}

export interface AuthOptions {
  database: Database;
  /** Key → principal; the session cache replaces this with a cached lookup. */
  resolve?: (key: string) => Promise<Principal | null>;
}

/** The key of `Authorization: Bearer <key>`, or null. */
export function bearer(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(header.trim());
  return match ? match[1]! : null;
}

/**
 * The caller's tenant and key as a tenant scope: the one place a request's tenant is read from its
 * principal. Undefined for an admin or anonymous caller.
 */
export function tenantScopeOf(request: FastifyRequest): TenantContext | undefined {
  const principal = request.principal;
  return principal?.kind === 'tenant' ? { tenantId: principal.tenantId, actorId: principal.keyId } : undefined;
}

/** The caller's tenant scope on a tenant route (the onRequest hook has refused every other caller). */
export function callerScope(request: FastifyRequest): TenantContext {
  const scope = tenantScopeOf(request);
  if (!scope) throw new StrataError('UNAUTHENTICATED', 'a tenant API key is required');
  return scope;
}

/** The caller's tenant id on a tenant route, for cache keys and invalidation. */
export function callerTenant(request: FastifyRequest): number {
  return callerScope(request).tenantId;
}

/**
 * Makes the routes registered in this context public unless they say otherwise: for plugins whose
 * routes take no config of ours (the docs UI, the dashboard's files).
 */
export function publicByDefault(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, access: route.config?.access ?? 'public' };
  });
}

/**
 * Every route is tenant-only unless its `config.access` says otherwise (health, docs and the
 * dashboard's files say public; tenants and metrics say admin). Unknown keys get 401.
 */
export const authPlugin = fp(async (app: FastifyInstance, options: AuthOptions) => {
  const resolve = options.resolve ?? ((key: string) => authenticate(options.database.admin, key));
  app.decorateRequest('principal', null);
  app.decorateRequest('inTenant', function inTenant<T>(this: FastifyRequest, fn: (trx: TenantTx) => Promise<T>, transaction?: TenantTransactionOptions) {
    return withTenant(options.database, callerScope(this), fn, transaction);
  });
  app.addHook('onRequest', async (request) => {
    // Fails closed: a route that says nothing is tenant-only, wherever it is.
    const access = request.routeOptions.config?.access ?? 'tenant';
    if (access === 'public' || request.routeOptions.url === undefined) return;
    const key = bearer(request);
    const principal = key ? await resolve(key) : null;
    if (!principal) throw new StrataError('UNAUTHENTICATED');
    if (access !== 'tenant-or-admin' && principal.kind !== access) {
      // An admin key on tenant routes (or the reverse) proves nothing about this resource.
      throw new StrataError('UNAUTHENTICATED', access === 'admin' ? 'an admin API key is required' : 'a tenant API key is required');
    }
    if (principal.kind === 'tenant' && principal.readOnly && request.method !== 'GET' && request.method !== 'HEAD') {
      throw new StrataError('READ_ONLY_KEY', `this API key is read-only: ${request.method} needs a read-write key`);
    }
    request.principal = principal;
  });
}, { name: 'strata-auth' });
