import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { tenantShard } from '../../src/db/cluster.js';
import { withTenant } from '../../src/db/tenant.js';
import { StrataError } from '../../src/errors.js';
import { ActivityRepository } from '../../src/repositories/activity-repository.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { testCli, type TestCli } from './cli-context.js';

let database: TestDatabase;
let cli: TestCli;

beforeAll(async () => {
  database = await migratedDatabase();
  cli = testCli(database);
});

async function failure(run: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await run.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(StrataError);
  return { code: (error as StrataError).code, message: (error as StrataError).message };
}

async function tenantWithActivities(count: number) {
  const tenant = await createTenant(database, 'Placed');
  const user = await createUser(database, tenant.id);
  // As the owner: the ingest path's COPY is refused under row-level security on Citus.
  await sql`insert into user_activity (tenant_id, user_id, activity_type, metadata)
    select ${tenant.id}, ${user.id}, 'view', jsonb_build_object('n', n) from generate_series(1, ${count}) n`.execute(database.admin);
  return { tenantId: tenant.id, userId: user.id };
}

interface StatusJson {
  mode: string;
  nodes: { host: string; port: number; role: string; shardGroups: number; tenants: number; bytes: number }[];
  shardGroups: number;
  tenants: number;
  biggestTenants: { tenantId: number; node: string; bytes: number; sharedWith: number }[];
  transferMode: string;
}

const status = async () => JSON.parse((await cli.run('cluster', 'status', '--json'))[0]!) as StatusJson;

describe('strata cluster on a single server', () => {
  it.skipIf(onCitus())('on a single server, status says the database is not on a Citus cluster and exits 0', async () => {
    expect(await cli.run('cluster', 'status')).toEqual(['not on a Citus cluster (no citus extension): every tenant lives on this one server']);
    expect(await status()).toEqual({ mode: 'single-server' });
  });

  it.skipIf(onCitus())('on a single server, rebalance and isolate-tenant fail with NOT_A_CLUSTER and change nothing', async () => {
    const { tenantId } = await tenantWithActivities(1);
    expect((await failure(cli.run('cluster', 'rebalance'))).code).toBe('NOT_A_CLUSTER');
    expect((await failure(cli.run('cluster', 'isolate-tenant', String(tenantId), '--move'))).code).toBe('NOT_A_CLUSTER');
    expect(cli.runtimes.opened).toBe(cli.runtimes.closed);
  });
});

describe('strata cluster on Citus', () => {
  it.runIf(onCitus())('on Citus, status accounts for every node, shard group and tenant, biggest tenant first', async () => {
    const big = await tenantWithActivities(4000);
    await tenantWithActivities(10);
    await cli.run('cluster', 'isolate-tenant', String(big.tenantId));
    const found = await status();
    const { rows: [expected] } = await sql<{ groups: number; tenants: number }>`
      select (select count(*)::int from pg_dist_shard where logicalrelid = 'app_user'::regclass) as groups,
        (select count(*)::int from tenant) as tenants`.execute(database.admin);
    expect(found.mode).toBe('citus');
    expect(found.nodes.map((node) => node.role)).toEqual(['coordinator', 'worker', 'worker']);
    expect(found.shardGroups).toBe(expected!.groups);
    expect(found.nodes.reduce((sum, node) => sum + node.shardGroups, 0)).toBe(expected!.groups);
    expect(found.nodes.reduce((sum, node) => sum + node.tenants, 0)).toBe(expected!.tenants);
    expect(found.tenants).toBe(expected!.tenants);
    // This cluster runs with wal_level = replica: moves must block writes.
    expect(found.transferMode).toBe('block_writes');
    const shard = await tenantShard(database.admin, big.tenantId);
    expect(found.biggestTenants[0]).toMatchObject({ tenantId: big.tenantId, node: shard.node, sharedWith: 0 });
    expect(found.biggestTenants.length).toBeLessThanOrEqual(10);

    const printed = await cli.run('cluster', 'status');
    expect(printed[0]).toMatch(new RegExp(`^Citus cluster: 3 nodes, ${expected!.groups} shard groups, ${expected!.tenants} tenants; writes to a moving shard group wait`));
    expect(printed).toContainEqual(expect.stringMatching(/^node +role +shard groups +tenants +bytes$/));
    expect(printed).toContainEqual(expect.stringMatching(new RegExp(`^${big.tenantId} +Placed +${shard.node} +${shard.shardId} +[\\d.]+ [kMG]B +alone$`)));
  });

  it.runIf(onCitus())('on Citus, rebalance evens out shard groups between the workers, then has nothing to move', async () => {
    const workers = (await status()).nodes.filter((node) => node.role === 'worker');
    // Two groups from the second worker to the first: an imbalance of at least four.
    const { rows: groups } = await sql<{ shardid: string }>`
      select shardid from citus_shards where table_name = 'app_user'::regclass and nodeport = ${workers[1]!.port} order by shardid limit 2`.execute(database.admin);
    for (const { shardid } of groups) {
      await sql`select citus_move_shard_placement(${shardid}::bigint, ${workers[1]!.host}, ${workers[1]!.port}::int, ${workers[0]!.host}, ${workers[0]!.port}::int,
        shard_transfer_mode => 'block_writes')`.execute(database.admin);
    }
    const printed = await cli.run('cluster', 'rebalance', '--strategy', 'by_shard_count', '--no-progress');
    expect(printed[0]).toMatch(/^moved \d+ shard groups? \(shard_transfer_mode block_writes\)$/);
    const counts = (await status()).nodes.filter((node) => node.role === 'worker').map((node) => node.shardGroups);
    expect(Math.max(...counts) - Math.min(...counts)).toBeLessThanOrEqual(1);
    expect(await cli.run('cluster', 'rebalance', '--strategy', 'by_shard_count')).toEqual(['balanced: no shard group to move']);
  });

  it.runIf(onCitus())('on Citus, isolate-tenant refuses an unknown tenant, an unknown node and a malformed one', async () => {
    const { tenantId } = await tenantWithActivities(1);
    expect(await failure(cli.run('cluster', 'isolate-tenant', '2000000'))).toEqual({ code: 'NOT_FOUND', message: 'tenant 2000000 does not exist' });
    expect(await failure(cli.run('cluster', 'isolate-tenant', String(tenantId), '--to', '127.0.0.1:1')))
      .toEqual({ code: 'NOT_FOUND', message: 'no active node 127.0.0.1:1 in the cluster' });
    expect((await failure(cli.run('cluster', 'isolate-tenant', String(tenantId), '--to', 'nowhere'))).code).toBe('VALIDATION_FAILED');
    expect((await failure(cli.run('cluster', 'rebalance', '--strategy', 'nope'))).code).toBe('VALIDATION_FAILED');
    // Refused before anything moved: the tenant still shares its shard group.
    expect((await tenantShard(database.admin, tenantId)).isolated).toBe(false);
  });

  it.runIf(onCitus())('on Citus, a tenant moved to another worker while it is written and read loses, duplicates and refuses nothing', async () => {
    const { tenantId, userId } = await tenantWithActivities(500);
    const neighbour = await tenantWithActivities(3);
    await cli.run('cluster', 'isolate-tenant', String(tenantId));
    const from = await tenantShard(database.admin, tenantId);
    const to = (await status()).nodes.find((node) => node.role === 'worker' && `${node.host}:${node.port}` !== from.node)!;

    const traffic = await underTraffic(tenantId, userId, cli.run('cluster', 'isolate-tenant', String(tenantId), '--to', `${to.host}:${to.port}`));

    expect(traffic.printed).toEqual([
      `tenant ${tenantId} already has a shard group of its own (shard ${from.shardId})`,
      `moved shard group ${from.shardId} from ${from.node} to ${to.host}:${to.port}`,
    ]);
    expect(await tenantShard(database.admin, tenantId)).toMatchObject({ node: `${to.host}:${to.port}`, isolated: true });
    console.info(`move under traffic: ${traffic.acknowledged.length} writes, ${traffic.reads} reads ok`);
    expect(traffic.failedReads).toEqual([]);
    expect(traffic.failedWrites).toEqual([]);
    await expectEachAcknowledgedOnce(tenantId, traffic.acknowledged);
    // Another tenant still sees its own rows and none of the moved tenant's.
    const seen = await withTenant(database, { tenantId: neighbour.tenantId }, (trx) => trx.selectFrom('user_activity')
      .select(['tenant_id']).execute());
    expect(seen.map((row) => Number(row.tenant_id))).toEqual([neighbour.tenantId, neighbour.tenantId, neighbour.tenantId]);
  });

  it.runIf(onCitus())('on Citus, isolating a tenant while it is written and read loses and duplicates nothing; only a read racing the split\'s switch can fail', async () => {
    const { tenantId, userId } = await tenantWithActivities(500);
    const traffic = await underTraffic(tenantId, userId, cli.run('cluster', 'isolate-tenant', String(tenantId)));
    expect(traffic.printed[0]).toMatch(new RegExp(`^tenant ${tenantId} isolated to shard \\d+$`));
    expect((await tenantShard(database.admin, tenantId)).isolated).toBe(true);
    expect(traffic.failedWrites).toEqual([]);
    // A read planned against the old shard and run after the split replaced it; the next read succeeds.
    expect(traffic.failedReads.map((error) => (error as Error).message))
      .toEqual(traffic.failedReads.map(() => expect.stringMatching(/^could not find valid entry for shard \d+$/)));
    console.info(`isolation under traffic: ${traffic.acknowledged.length} writes, ${traffic.reads} reads ok, failed reads: ${traffic.failedReads.map((error) => (error as Error).message).join('; ')}`);
    await expectEachAcknowledgedOnce(tenantId, traffic.acknowledged);
  });
});

/** Two writers and two readers on the tenant's activities until `operation` settles. */
async function underTraffic(tenantId: number, userId: number, operation: Promise<string[]>) {
  const scope = { tenantId };
  const result = { acknowledged: [] as number[], failedWrites: [] as unknown[], reads: 0, failedReads: [] as unknown[], printed: [] as string[] };
  let running = true;
  let client = 0;
  const writer = async () => {
    while (running) {
      const id = (client += 1);
      try {
        await withTenant(database, scope, (trx) => new ActivityRepository(trx).record({ user_id: userId, activity_type: 'tick', metadata: { client: id } }));
        result.acknowledged.push(id);
      } catch (error) {
        result.failedWrites.push(error);
      }
    }
  };
  const reader = async () => {
    while (running) {
      try {
        const rows = await withTenant(database, scope, (trx) => new ActivityRepository(trx).recentActivity({ userId, limit: 10 }));
        expect(rows.every((row) => Number(row.tenant_id) === tenantId)).toBe(true);
        result.reads += 1;
      } catch (error) {
        result.failedReads.push(error);
      }
    }
  };
  const done = operation.finally(() => { running = false; });
  [result.printed] = await Promise.all([done, writer(), writer(), reader(), reader()]);
  // The traffic overlapped the operation: without it the test would prove nothing. A few of each
  // suffice (a read on a loaded 2-core cluster can take 80 ms, and a move about a second).
  expect(result.acknowledged.length).toBeGreaterThan(2);
  expect(result.reads).toBeGreaterThan(2);
  return result;
}

/** Every acknowledged insert is stored exactly once, nothing else was stored, and the older rows are all there. */
async function expectEachAcknowledgedOnce(tenantId: number, acknowledged: number[]) {
  const stored = await withTenant(database, { tenantId }, (trx) => trx.selectFrom('user_activity')
    .select((eb) => [sql<number>`(metadata->>'client')::int`.as('client'), eb.fn.countAll<string>().as('copies')])
    .where(sql<boolean>`metadata ? 'client'`).groupBy(sql`metadata->>'client'`).execute());
  const copies = new Map(stored.map((row) => [Number(row.client), Number(row.copies)]));
  expect(acknowledged.filter((id) => copies.get(id) !== 1)).toEqual([]);
  expect([...copies.values()].filter((n) => n !== 1)).toEqual([]);
  expect(copies.size).toBe(acknowledged.length);
  const { rows: [older] } = await sql<{ n: number }>`
    select count(*)::int as n from user_activity where tenant_id = ${tenantId} and metadata ? 'n'`.execute(database.admin);
  expect(older!.n).toBe(500);
}
