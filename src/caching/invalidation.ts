import type { CacheKeys, Target } from './keys.js';
import type { CacheContext } from './read-through.js';

/**
 * Every cache-visible write goes through here, wrapped around its transaction:
 *
 * 1. before it starts, its targets are marked as being written: until step 3 no reader on any
 *    instance serves or stores them, so a read that starts after the commit cannot find the old
 *    value, not even in the moment between the commit and the bump;
 * 2. the write runs; its promise resolves after COMMIT (withTenant, request.inTenant);
 * 3. after it settles, never before, the targets' versions are bumped and the marks lifted. A reader
 *    that loaded the old row before the commit stores it under the old version, where nobody looks.
 *
 * Bumping before the commit would let a reader load the uncommitted-old row and store it under the
 * new version; the race tests show both orders.
 */
export class Invalidation {
  constructor(
    private readonly context: CacheContext,
    readonly keys: CacheKeys,
  ) {}

  async around<T>(targets: readonly Target[], write: () => Promise<T>): Promise<T> {
    const intent = await this.context.store.beginWrite(targets);
    try {
      return await write();
    } finally {
      await this.context.store.endWrite(intent);
      for (const target of targets) for (const layer of target.layers) this.context.metrics.count(layer, 'invalidations');
    }
  }

  /** A change to a user, its profile or its settings. */
  userWrite<T>(tenantId: number, userId: number, write: () => Promise<T>): Promise<T> {
    return this.around([this.keys.user(tenantId, userId)], write);
  }

  /** Deleting a user: its cached profile, and the tenant's analytics its active days leave with it. */
  userDelete<T>(tenantId: number, userId: number, write: () => Promise<T>): Promise<T> {
    return this.around([this.keys.user(tenantId, userId), this.keys.analytics(tenantId)], write);
  }

  /** Revoking (or otherwise changing) any of the tenant's API keys. */
  apiKeyWrite<T>(tenantId: number, write: () => Promise<T>): Promise<T> {
    return this.around([this.keys.sessions(tenantId)], write);
  }

  /** Analytics rows changed by anything but an ETL run (runs are noticed through the data version). */
  analyticsWrite<T>(tenantIds: readonly number[], write: () => Promise<T>): Promise<T> {
    return this.around(tenantIds.map((tenantId) => this.keys.analytics(tenantId)), write);
  }

  /** Deleting a tenant: every key of it, in every layer, is dropped. */
  tenantDelete<T>(tenantId: number, write: () => Promise<T>): Promise<T> {
    return this.around([this.keys.tenant(tenantId)], write);
  }
}
