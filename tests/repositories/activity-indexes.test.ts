import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import type { ActivityListOptions, RecentActivityOptions } from '../../src/models/activity.js';
import { ActivityRepository } from '../../src/repositories/activity-repository.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import {
  explain, indexCatalog, indexScans, logicalIndex, planNodes, recordStatements, rowPlan, statementOn, withoutShardId, type IndexInfo,
  type PlanNode,
} from './plan-helpers.js';
import { activityBatchOf } from '../../src/models/activity.js';

// 20 tenants × 50 users × 100 activities over the last 80 days, one user with 5,000 more, and one
// tenant with a 10,000-row batch that shares one timestamp: 115,000 rows over four monthly partitions.
const TENANTS = 20;
const USERS_PER_TENANT = 50;
const ACTIVITIES_PER_USER = 100;

let database: TestDatabase;
let statements: ReturnType<typeof recordStatements>;
let indexes: Map<string, IndexInfo>;
let tenantId: number;
let heavyUserId: number;
let lightUserId: number;
let batchTenantId: number;
let partitionsWithRows: Set<string>;

beforeAll(async () => {
  database = await migratedDatabase();
  statements = recordStatements(database.pool);
  const admin = database.admin;
  await sql`select ensure_user_activity_partitions(1, 3)`.execute(admin);
  const tenants = await sql<{ id: number }>`
    insert into tenant (name, slug) select 'Tenant ' || g, 'plans-' || g from generate_series(1, ${TENANTS + 1}) g returning id`.execute(admin);
  const ids = tenants.rows.map((row) => row.id).sort((x, y) => x - y);
  tenantId = ids[0]!;
  batchTenantId = ids[TENANTS]!;
  await sql`
    insert into app_user (tenant_id, email, username)
    select t.id, 'u' || g || '@t' || t.id || '.io', 'u' || g
    from tenant t, generate_series(1, ${USERS_PER_TENANT}) g where t.id = any(${ids})`.execute(admin);
  const users = await sql<{ id: number }>`select id from app_user where tenant_id = ${tenantId} order by id limit 2`.execute(admin);
  [heavyUserId, lightUserId] = users.rows.map((row) => row.id) as [number, number];
  await sql`
    insert into user_activity (tenant_id, user_id, activity_type, metadata, created_at)
    select u.tenant_id, u.id, (array['login', 'logout', 'view', 'purchase', 'search'])[1 + g % 5],
      jsonb_build_object('n', g, 'order_id', 'o-' || u.id || '-' || g),
      now() - (g * 7919 % 80) * interval '1 day' - (u.id * 31 + g) % 86400 * interval '1 second'
    from app_user u, generate_series(1, ${ACTIVITIES_PER_USER}) g
    where u.tenant_id <> ${batchTenantId}`.execute(admin);
  await sql`
    insert into user_activity (tenant_id, user_id, activity_type, created_at)
    select ${tenantId}, ${heavyUserId}, 'view', now() - g * interval '20 minutes' from generate_series(1, 5000) g`.execute(admin);
  const batchUser = await admin.selectFrom('app_user').select('id').where('tenant_id', '=', batchTenantId).executeTakeFirstOrThrow();
  await withTenant(database, { tenantId: batchTenantId }, (trx) => new ActivityRepository(trx).insertBatch(activityBatchOf(
    Array.from({ length: 10_000 }, (_, index) => ({ user_id: batchUser.id, activity_type: 'import', metadata: { index } })))));
  await sql`vacuum analyze user_activity`.execute(admin);
  indexes = await indexCatalog(database);
  const partitions = await sql<{ partition: string }>`
    select distinct tableoid::regclass::text as partition from user_activity where tenant_id = ${tenantId}`.execute(admin);
  // On Citus the rows report the shard of the partition that holds them.
  partitionsWithRows = new Set(partitions.rows.map((row) => (onCitus() ? withoutShardId(row.partition) : row.partition)));
});

async function planOf(run: (activities: ActivityRepository) => Promise<unknown>, tenant = tenantId): Promise<PlanNode> {
  const captured = await statements.capture(() => withTenant(database, { tenantId: tenant }, (trx) => run(new ActivityRepository(trx))));
  const plan = await explain(database, tenant, statementOn(captured, 'user_activity'));
  rowPlan(plan); // on Citus: routed to the tenant's one shard
  return plan;
}

const recent = (options: RecentActivityOptions) => planOf((activities) => activities.recentActivity(options));
const listed = (options: Omit<ActivityListOptions, 'limit'> & { limit?: number }) => planOf((activities) => activities.list({ limit: 100, ...options }));

/** The parent index of every index scan on a partition that holds the tenant's rows. */
function indexesOnTenantRows(plan: PlanNode): string[] {
  return indexScans(plan)
    .map((node) => logicalIndex(indexes, node['Index Name']!))
    .filter((index) => partitionsWithRows.has(index.table))
    .map((index) => index.parent);
}

function expectServedBy(plan: PlanNode, index: string): void {
  const used = indexesOnTenantRows(plan);
  expect(used.length).toBeGreaterThan(0);
  expect(new Set(used)).toEqual(new Set([index]));
  const seqScans = planNodes(plan).filter((node) => node['Node Type'] === 'Seq Scan' && partitionsWithRows.has(node['Relation Name']!));
  expect(seqScans).toEqual([]);
}

function sortNodes(plan: PlanNode): PlanNode[] {
  return planNodes(plan).filter((node) => /Sort$/.test(node['Node Type']));
}

describe('user_activity indexes', () => {
  it('holds at least 100,000 activities across several monthly partitions', async () => {
    const { rows } = await sql<{ n: number; partitions: number }>`
      select count(*)::int as n, count(distinct tableoid)::int as partitions from user_activity`.execute(database.admin);
    expect(rows[0]!.n).toBeGreaterThanOrEqual(100_000);
    expect(rows[0]!.partitions).toBeGreaterThanOrEqual(3);
    expect(partitionsWithRows.size).toBeGreaterThanOrEqual(3);
  });

  it('defines one index per query pattern, with the intended columns, including GIN on metadata', async () => {
    const { rows } = await sql<{ indexname: string; indexdef: string }>`
      select indexname, indexdef from pg_indexes where tablename = 'user_activity'`.execute(database.admin);
    const definitions = Object.fromEntries(rows.map((row) => [row.indexname, row.indexdef]));
    expect(definitions.user_activity_tenant_user_created_idx).toMatch(/USING btree \(tenant_id, user_id, created_at DESC\b/);
    expect(definitions.user_activity_tenant_type_created_idx).toMatch(/USING btree \(tenant_id, activity_type, created_at DESC\b/);
    expect(definitions.user_activity_tenant_created_idx).toMatch(/USING btree \(tenant_id, created_at DESC\b/);
    expect(definitions.user_activity_metadata_gin_idx).toMatch(/USING gin \(metadata jsonb_path_ops\)/);
    // The seed's own checks, by name pattern.
    expect(rows.some((row) => row.indexname.includes('tenant_user_created'))).toBe(true);
    expect(rows.some((row) => /gin.*metadata/i.test(row.indexdef))).toBe(true);
  });
});

describe('ActivityRepository query plans under the tenant policy', () => {
  it('reads the tenant\'s most recent activities from (tenant_id, created_at DESC) without sorting', async () => {
    const plan = await recent({ limit: 50 });
    expect(rowPlan(plan)['Node Type']).toBe('Limit');
    expectServedBy(plan, 'user_activity_tenant_created_idx');
    expect(sortNodes(plan)).toEqual([]);
  });

  it('reads the most recent of one type from (tenant_id, activity_type, created_at DESC) without sorting', async () => {
    const plan = await recent({ type: 'purchase', limit: 10 });
    expectServedBy(plan, 'user_activity_tenant_type_created_idx');
    expect(sortNodes(plan)).toEqual([]);
  });

  it('reads a busy user\'s most recent activities from (tenant_id, user_id, created_at DESC) without sorting', async () => {
    const plan = await recent({ userId: heavyUserId, limit: 50 });
    expectServedBy(plan, 'user_activity_tenant_user_created_idx');
    expect(sortNodes(plan)).toEqual([]);
  });

  it('fetches a quiet user\'s few activities through the same index', async () => {
    // The planner may sort the ~100 rows it fetched rather than merge eight partition scans: that
    // sort is over one user's rows, never the tenant's.
    expectServedBy(await recent({ userId: lightUserId, limit: 50 }), 'user_activity_tenant_user_created_idx');
  });

  it('pages a type filter from its index; any sort only orders rows that share a timestamp', async () => {
    const plan = await listed({ type: 'login', limit: 100 });
    expectServedBy(plan, 'user_activity_tenant_type_created_idx');
    for (const node of sortNodes(plan)) {
      expect(node['Node Type']).toBe('Incremental Sort');
      expect(node['Presorted Key']).toEqual(['user_activity.created_at']);
    }
  });

  it('scans only the partitions a time range covers', async () => {
    const { rows: [month] } = await sql<{ start: string; partition: string; next: string; nextPartition: string }>`
      select to_json(m)::text as start, 'user_activity_p' || to_char(m at time zone 'UTC', 'YYYY_MM') as partition,
        to_json(m + interval '1 month')::text as next,
        'user_activity_p' || to_char((m + interval '1 month') at time zone 'UTC', 'YYYY_MM') as "nextPartition"
      from (select date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' - interval '2 months' as m) as months`
      .execute(database.admin);
    const start = new Date(JSON.parse(month!.start) as string);
    const day = (days: number) => new Date(start.getTime() + days * 86_400_000).toISOString();
    const relations = (plan: PlanNode) => new Set(planNodes(plan).map((node) => node['Relation Name']).filter(Boolean));

    const within = await listed({ since: day(3), until: day(13), limit: 100 });
    expect(relations(within)).toEqual(new Set([month!.partition]));
    expectServedBy(within, 'user_activity_tenant_created_idx');

    const across = await listed({ since: day(20), until: new Date(Date.parse(JSON.parse(month!.next) as string) + 5 * 86_400_000).toISOString() });
    expect(relations(across)).toEqual(new Set([month!.partition, month!.nextPartition]));
  });

  it('finds metadata containment through the GIN index on metadata', async () => {
    const plan = await listed({ metadataContains: { order_id: `o-${heavyUserId}-7` } });
    expect(indexScans(plan).map((node) => logicalIndex(indexes, node['Index Name']!).parent)).toContain('user_activity_metadata_gin_idx');
  });

  it('pages through a bulk-inserted batch that shares one timestamp without sorting it', async () => {
    const captured = await statements.capture(() => withTenant(database, { tenantId: batchTenantId },
      (trx) => new ActivityRepository(trx).list({ limit: 50 })));
    const plan = await explain(database, batchTenantId, statementOn(captured, 'user_activity'), true);
    expect(sortNodes(plan)).toEqual([]);
  });
});
