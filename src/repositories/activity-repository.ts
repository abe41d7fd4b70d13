import { sql } from 'kysely';
import { jsonObjectFrom } from 'kysely/helpers/postgres';
import { insertRows, type BatchShape, type RowSourceOptions } from '../db/copy.js';
import { executePrepared } from '../db/prepared.js';
import { runsOnCluster, tenantOf, type TenantTx } from '../db/tenant.js';
import type {
  ActivityBatch, ActivityListOptions, ParsedActivity, RecentActivityOptions,
} from '../models/activity.js';

export { COPY_THRESHOLD } from '../db/copy.js';

const activityShape: BatchShape<ParsedActivity> = {
  name: 'user_activity',
  columns: [
    { name: 'user_id', type: 'bigint', value: (row) => row.user_id },
    { name: 'activity_type', type: 'text', value: (row) => row.activity_type },
    { name: 'metadata', type: 'jsonb', value: (row) => (row.metadata === undefined ? '{}' : JSON.stringify(row.metadata)) },
    { name: 'created_at', type: 'timestamptz', value: (row) => row.created_at ?? null },
  ],
};

// Named, not *: the reads run as prepared statements, and PostgreSQL refuses to run a cached `*`
// plan whose columns a migration has since changed ("cached plan must not change result type").
const columns = ['id', 'tenant_id', 'user_id', 'activity_type', 'metadata', 'created_at'] as const;

// 1-2-5 steps: the limits clients usually send (10, 20, 50, 100) are read exactly.
const plannedLimits = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/**
 * The LIMIT a prepared read is planned with: the requested limit rounded up to the next step. A
 * literal limit is another prepared statement, kept for the connection's life, for every distinct
 * value a client sends; rounded, a query shape has at most 10 (limits run to 1,000), and the rows
 * past the requested limit are dropped here.
 */
function plannedLimit(limit: number): number {
  return plannedLimits.find((step) => step >= limit) ?? limit;
}

export class ActivityRepository {
  /** `ingest.copyThreshold` moves the unnest/COPY crossover (the benchmark measures both sides of it). */
  constructor(private readonly trx: TenantTx, private readonly ingest: RowSourceOptions = {}) {}

  /**
   * The seed's `for_tenant`: the tenant's activities, each with its user loaded in the same query
   * (select_related). The user comes from a correlated subquery rather than a join: PostgreSQL then
   * evaluates it only for the rows a LIMIT keeps, and a misestimated join cannot turn a top-N read
   * into a sort of all the tenant's rows (measured: with the join it did, on 100,000 rows). The
   * subquery names the tenant itself: correlated on a.tenant_id, Citus planned the read for every
   * shard, one task each, and sorted their rows on the coordinator (EXPLAIN-tested).
   */
  forTenant() {
    const tenantId = tenantOf(this.trx);
    return this.trx.selectFrom('user_activity as a')
      .select(columns.map((column) => `a.${column}` as const))
      .select((eb) => jsonObjectFrom(eb.selectFrom('app_user as u').select(['u.id', 'u.username', 'u.email'])
        .where('u.tenant_id', '=', tenantId).whereRef('u.id', '=', 'a.user_id')).$notNull().as('user'))
      .where('a.tenant_id', '=', tenantId);
  }

  /**
   * The seed's `recent_activity`: newest first, for the tenant or one of its users or activity types.
   * Each filter has an index that ends in `created_at DESC`, so the top N are read in order rather than
   * sorted (for a user with a handful of rows the planner may sort those few: cheaper than a merge).
   */
  async recentActivity({ userId, type, limit }: RecentActivityOptions) {
    let query = this.forTenant();
    if (userId !== undefined) query = query.where('a.user_id', '=', userId);
    if (type !== undefined) query = query.where('a.activity_type', '=', type);
    // Prepared, with the validated limit as a literal: see executePrepared for why both matter.
    const rows = await executePrepared(this.trx, query.orderBy('a.created_at', 'desc').limit(sql.lit(plannedLimit(limit))));
    return rows.slice(0, limit);
  }

  /**
   * A page of activities, newest first. `afterId` names the last row of the previous page; the page
   * continues after that row's exact (created_at, id), read back in the database because a JavaScript
   * Date would cut created_at's microseconds and skip rows.
   */
  async list({ userId, type, since, until, metadataContains, afterId, limit }: ActivityListOptions) {
    const tenantId = tenantOf(this.trx);
    let query = this.trx.selectFrom('user_activity').select(columns).where('tenant_id', '=', tenantId);
    if (userId !== undefined) query = query.where('user_id', '=', userId);
    if (type !== undefined) query = query.where('activity_type', '=', type);
    // ISO strings, not Dates, so that microseconds survive; the parameter's type comes from the cast.
    if (since !== undefined) query = query.where('created_at', '>=', sql<Date>`${since}::timestamptz`);
    if (until !== undefined) query = query.where('created_at', '<', sql<Date>`${until}::timestamptz`);
    // Under row-level security the GIN index serves @> only once jsonb_contains is marked leakproof.
    if (metadataContains !== undefined) query = query.where(sql<boolean>`metadata @> ${JSON.stringify(metadataContains)}::jsonb`);
    if (afterId !== undefined) {
      query = query.where(sql<boolean>`(user_activity.created_at, user_activity.id) < (
        select cursor.created_at, cursor.id from user_activity as cursor where cursor.tenant_id = ${tenantId} and cursor.id = ${afterId})`);
    }
    const rows = await executePrepared(this.trx, query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(sql.lit(plannedLimit(limit))));
    return rows.slice(0, limit);
  }

  async record(input: ParsedActivity) {
    return this.trx.insertInto('user_activity').values({ ...input, tenant_id: tenantOf(this.trx) })
      .returningAll().executeTakeFirstOrThrow();
  }

  /**
   * Inserts a batch, all or nothing, in one statement (or one transaction's COPY and INSERT). The
   * brand proves the rows were parsed by the model's schema at the edge (activityApiBatch in a
   * request, activityBatchOf in code), so they are not validated again here.
   */
  async insertBatch(batch: ActivityBatch): Promise<{ inserted: number }> {
    if (batch.length === 0) return { inserted: 0 };
    const tenantId = tenantOf(this.trx);
    const inserted = await insertRows(this.trx, activityShape, batch, {
      table: 'user_activity',
      targets: ['tenant_id', 'user_id', 'activity_type', 'metadata', 'created_at'],
      project: (row) => [sql`${tenantId}::bigint`, row.user_id!, row.activity_type!, row.metadata!, sql`coalesce(${row.created_at}, now())`],
    }, { ...this.ingest, cluster: runsOnCluster(this.trx) });
    return { inserted };
  }
}
