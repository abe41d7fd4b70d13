import { createHash } from 'node:crypto';
import type { Database } from '../db/database.js';
import { TenantRead } from '../db/tenant-read.js';
import { newestRunId } from '../repositories/pipeline-watermark.js';
import { UserRepository } from '../repositories/user-repository.js';
import type { CacheKeys } from './keys.js';
import { readThrough, type CacheContext } from './read-through.js';

/** What a value becomes once it has been through JSON: the same shape from every backend. */
export type Jsonified<T> = T extends Date ? string
  : T extends ReadonlyArray<infer U> ? Jsonified<U>[]
    : T extends object ? { [K in keyof T]: Jsonified<T[K]> } : T;

export type CachedUserProfile = Jsonified<Awaited<ReturnType<UserRepository['getUserProfile']>>>;

// Redis hands values back as JSON; the in-process store is given the same JSON form, so a caller
// sees ISO strings for dates whichever backend answered, hit or miss.
function jsonified<T>(value: T): Jsonified<T> {
  return JSON.parse(JSON.stringify(value)) as Jsonified<T>;
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('base64url').slice(0, 22);
}

/**
 * Analytics tables change only when an ETL run commits, and a run commits its etl_run row in the
 * same transaction as its rows: the newest run id is a data version that no writer has to remember
 * to bump (scheduled runs, `etl run` from the CLI and backfills alike).
 */
export function analyticsDataVersion(database: Database): Promise<number> {
  return newestRunId(database.admin);
}

// Compiled once: a profile miss skips the query builder.
const profileRead = new TenantRead((trx, userId: number) => new UserRepository(trx).profileQuery(userId));

export class QueryCache {
  constructor(
    private readonly context: CacheContext,
    private readonly keys: CacheKeys,
    private readonly database: Database,
    readonly ttlSeconds: number,
  ) {}

  /** The seed's get_user_profile: user, profile and settings, one round trip on a miss, none on a hit. */
  userProfile(tenantId: number, userId: number): Promise<CachedUserProfile> {
    return readThrough(this.context, {
      base: this.keys.value('profile', tenantId, userId),
      scopes: [this.keys.tenantScope(tenantId), this.keys.userScope(tenantId, userId)],
      layer: 'query',
      ttlSeconds: this.ttlSeconds,
      tenantId,
    }, async () => {
      const [row] = await profileRead.run(this.database, { tenantId }, userId);
      return jsonified(UserRepository.toUserProfile(row, userId));
    });
  }

  /**
   * An analytics summary (name + params identify it), cached until the next ETL run commits or
   * `invalidation.analyticsWrite` is used for the tenant. Costs one query on a hit: the data version.
   */
  async analyticsSummary<T>(tenantId: number, name: string, params: unknown, load: () => Promise<T>): Promise<Jsonified<T>> {
    if (this.context.store.backend === 'none') return jsonified(await load());
    const run = await analyticsDataVersion(this.database);
    return readThrough(this.context, {
      base: this.keys.value('analytics', tenantId, `${digest(`${name}\n${JSON.stringify(params)}`)}.r${run}`),
      scopes: [this.keys.tenantScope(tenantId), this.keys.analyticsScope(tenantId)],
      layer: 'query',
      ttlSeconds: this.ttlSeconds,
      tenantId,
    }, async () => jsonified(await load()));
  }
}
