import type { CacheLayer } from './metrics.js';

/** What a cached value is, as it appears in its key. */
export type KeyKind = 'session' | 'profile' | 'analytics' | 'response';
const kinds: readonly KeyKind[] = ['session', 'profile', 'analytics', 'response'];

/** One thing a write changes: the version it bumps and the cached copies it makes obsolete. */
export interface Target {
  /** The version key bumped once the write has committed. */
  readonly scope: string;
  /** Value keys (exact) and key prefixes (ending in ':') that stop being current. */
  readonly evict: readonly string[];
  /** The layers the write touches, for the invalidation and error counters. */
  readonly layers: readonly CacheLayer[];
  /** Set when the whole tenant goes: its keys are deleted, not only made unreachable. */
  readonly dropTenant?: number;
}

/**
 * Every key Strata's caches use. A value lives at `<namespace>:<kind>:<tenant>:<id>:v<version>`,
 * where the version joins the tokens of the version keys that guard it (the tenant's, then the
 * entity's): bumping either one makes every older copy unreachable at once.
 */
export class CacheKeys {
  constructor(readonly namespace: string) {}

  get channel(): string {
    return `${this.namespace}:invalidations`;
  }

  /** `prefix:tenant:id`: the store appends `:v<version>`. */
  value(kind: KeyKind, tenantId: number, id: string | number): string {
    return `${this.namespace}:${kind}:${tenantId}:${id}`;
  }

  tenantScope(tenantId: number): string {
    return `${this.namespace}:version:${tenantId}`;
  }

  sessionsScope(tenantId: number): string {
    return `${this.tenantScope(tenantId)}:sessions`;
  }

  userScope(tenantId: number, userId: number): string {
    return `${this.tenantScope(tenantId)}:user:${userId}`;
  }

  analyticsScope(tenantId: number): string {
    return `${this.tenantScope(tenantId)}:analytics`;
  }

  /** The scope as migration 0019's triggers name it in cache_version: the version key without its namespace. */
  databaseScope(scope: string): string {
    return scope.slice(`${this.namespace}:version:`.length);
  }

  /** Present while a write to the scope is between its start and its version bump. */
  intent(scope: string): string {
    return `${scope}:writing`;
  }

  user(tenantId: number, userId: number): Target {
    return { scope: this.userScope(tenantId, userId), evict: [this.value('profile', tenantId, userId)], layers: ['query'] };
  }

  sessions(tenantId: number): Target {
    return { scope: this.sessionsScope(tenantId), evict: [`${this.namespace}:session:${tenantId}:`], layers: ['session'] };
  }

  analytics(tenantId: number): Target {
    return {
      scope: this.analyticsScope(tenantId),
      evict: [`${this.namespace}:analytics:${tenantId}:`, `${this.namespace}:response:${tenantId}:`],
      layers: ['query', 'response'],
    };
  }

  tenant(tenantId: number): Target {
    return {
      scope: this.tenantScope(tenantId),
      evict: kinds.map((kind) => `${this.namespace}:${kind}:${tenantId}:`),
      layers: ['session', 'query', 'response'],
      dropTenant: tenantId,
    };
  }

  /** SCAN patterns of everything a tenant left behind, except its own version key (bumped, never deleted). */
  tenantPatterns(tenantId: number): string[] {
    return [...kinds.map((kind) => `${this.namespace}:${kind}:${tenantId}:*`), `${this.tenantScope(tenantId)}:*`];
  }
}
