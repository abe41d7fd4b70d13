import { createHash } from 'node:crypto';
import type { CacheKeys } from './keys.js';
import { readThrough, type CacheContext } from './read-through.js';

// Tenant keys name their tenant (strata_<tenant id>_<secret>, see services/api-keys.ts): the lookup
// needs the tenant's versions before it knows the principal. Admin keys never match: they are rare,
// have no revoke path to hook, and so are checked against the database every time.
const TENANT_KEY = /^strata_([1-9][0-9]{0,15})_/;

/**
 * API key → principal, asked on every request. Entries are keyed by the key's SHA-256 (the key itself
 * is never stored) under the tenant's version and its sessions version: revoking any of the tenant's
 * keys or deleting the tenant bumps one of them, so the very next request on any instance goes to
 * the database. Unknown and revoked keys are never cached.
 */
export class SessionCache {
  constructor(
    private readonly context: CacheContext,
    private readonly keys: CacheKeys,
    readonly ttlSeconds: number,
  ) {}

  wrap<P extends object>(load: (key: string) => Promise<P | null>): (key: string) => Promise<P | null> {
    return async (key) => {
      const match = TENANT_KEY.exec(key);
      if (!match) return load(key);
      const tenantId = Number(match[1]);
      const digest = createHash('sha256').update(key).digest('base64url');
      return readThrough(this.context, {
        base: this.keys.value('session', tenantId, digest),
        scopes: [this.keys.tenantScope(tenantId), this.keys.sessionsScope(tenantId)],
        layer: 'session',
        ttlSeconds: this.ttlSeconds,
        tenantId,
      }, () => load(key));
    };
  }
}
