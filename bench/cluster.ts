import { sql } from 'kysely';
import { ensureMonthlyPartitions } from '../src/db/activity-partitions.js';
import { openDatabase, type Database } from '../src/db/database.js';
import { migrate } from '../src/db/migrator.js';
import { scopeTransaction, withTenant } from '../src/db/tenant.js';
import type { TenantTx } from '../src/db/tenant.js';
import { ActivityRepository } from '../src/repositories/activity-repository.js';
import {
  findCitusKit, nodeShares, splitRecentOfType, startCitusCluster, type CitusCluster, type NodeShare, type QuerySplit,
} from './citus-cluster.js';
import { BATCH, CONNECTIONS, runLoadClient } from './http-ingest.js';
import { LOADERS, perTenant } from './load-and-query.js';
import {
  ACTIVITY_TYPES, activityRows, createTenantsAndUsers, median, msSince, percentile, printTable, round, startApiServer, tenantKeys, timed,
  writeResults, type BenchServer,
} from './support.js';
import { activityBatchOf } from '../src/models/activity.js';

/**
 * The same load, reads and HTTP ingest on the single server and on Citus clusters of 1 and 2
 * workers started for the run (ports of their own, citus.shard_count at its default 32), the single
 * server being the baseline. Every node of a cluster runs on this machine's cores: the per-node
 * figures, not the totals, are what carries over to separate machines.
 */
const TENANTS = 100;
const CLUSTERS = [{ port: 9730, workers: 1 }, { port: 9740, workers: 2 }];
const EXPLAINS = 21;
const MULTI_SHARD_RUNS = 5;

interface Sizes {
  total: number;
  usersPerTenant: number;
  queries: number;
  httpSeconds: number;
}

interface Latency {
  medianMs: number;
  p95Ms: number;
  count: number;
}

interface TargetResult {
  target: string;
  workers: number | null;
  shardCount: number | null;
  load: { seconds: number; rowsPerSecond: number; role: 'tenant' | 'owner'; refused: string | null };
  recentOfType: { inTransaction: Latency; statementOnly: Latency };
  split: QuerySplit;
  /** All tenants' activities counted by type, as the owner: one task per shard, merged on the coordinator. */
  countByTypeMs: number;
  nodes: NodeShare[];
  httpIngest: { refused: boolean; rowsPerSecond: number; requests: number; medianMs: number; p99Ms: number; failed: number; seconds: number };
}

function latency(samples: number[]): Latency {
  return { medianMs: round(median(samples), 3), p95Ms: round(percentile(samples, 95), 3), count: samples.length };
}

/** The same (tenant, type) pairs on every target. */
function asking(index: number, tenantIds: readonly number[]) {
  return { tenantId: tenantIds[(index * 37) % tenantIds.length]!, type: ACTIVITY_TYPES[(index * 7) % ACTIVITY_TYPES.length]! };
}

async function recentOfType(database: Database, tenantIds: number[], queries: number) {
  const recent = (trx: Parameters<Parameters<typeof withTenant>[2]>[0], type: string) => new ActivityRepository(trx).recentActivity({ type, limit: 10 });
  // Warm-up: the pool's connections, their prepared statements and, on a cluster, the worker connections.
  for (let index = 0; index < 50; index += 1) {
    const { tenantId, type } = asking(index, tenantIds);
    await withTenant(database, { tenantId }, (trx) => recent(trx, type));
  }
  const inTransaction: number[] = [];
  for (let index = 0; index < queries; index += 1) {
    const { tenantId, type } = asking(index, tenantIds);
    inTransaction.push((await timed(() => withTenant(database, { tenantId }, (trx) => recent(trx, type)))).ms);
  }
  // The statement alone: one tenant transaction asked many times.
  const statementOnly: number[] = [];
  const perTransaction = Math.max(1, Math.floor(queries / TENANTS));
  for (let tenant = 0; tenant < TENANTS; tenant += 1) {
    await withTenant(database, { tenantId: tenantIds[tenant]! }, async (trx) => {
      for (let ask = 0; ask < perTransaction; ask += 1) {
        statementOnly.push((await timed(() => recent(trx, ACTIVITY_TYPES[(tenant + ask) % ACTIVITY_TYPES.length]!))).ms);
      }
    });
  }
  return { inTransaction: latency(inTransaction), statementOnly: latency(statementOnly) };
}

async function countByType(database: Database): Promise<number> {
  const run = () => sql`select activity_type, count(*) from user_activity group by activity_type`.execute(database.admin);
  await run();
  const samples: number[] = [];
  for (let index = 0; index < MULTI_SHARD_RUNS; index += 1) samples.push((await timed(run)).ms);
  return round(median(samples), 1);
}

/**
 * Why a tenant's batch cannot be stored here, or null when it can: one row through the product's
 * path (withTenant, the application role), rolled back. Citus moves an INSERT … SELECT planned on the
 * coordinator into the shards with COPY, which the workers refuse under row-level security.
 */
async function ingestRefusal(database: Database, tenantId: number, userId: number): Promise<string | null> {
  let inserted = false;
  try {
    await withTenant(database, { tenantId }, async (trx) => {
      await new ActivityRepository(trx).insertBatch(activityBatchOf(activityRows(1, [userId])));
      inserted = true;
      throw new Error('roll back the probe');
    });
  } catch (error) {
    if (inserted) return null;
    const cause = (error as { cause?: Error }).cause;
    const message = [(error as Error).message, cause?.message].find((text) => text && /row-level security/.test(text));
    if (!message) throw error;
    return message;
  }
  return null;
}

/** HTTP ingest as bench/http-ingest.ts measures it, for tenants of their own beside the loaded ones. */
async function httpIngest(database: Database, seconds: number) {
  const { tenantIds, userIds } = await createTenantsAndUsers(database, CONNECTIONS * 2, 100, 'http');
  const keys = await tenantKeys(database, tenantIds);
  const api = await startApiServer(database);
  let report;
  try {
    report = await runLoadClient({ origin: api.origin, keys, userIds, batch: BATCH, connections: CONNECTIONS, seconds });
  } finally {
    await api.close();
  }
  const { rows: [stored] } = await sql<{ rows: number }>`
    select count(*)::int as rows from user_activity where tenant_id = any(${tenantIds})`.execute(database.admin);
  if (stored!.rows !== report.rowsAccepted) throw new Error(`the server acknowledged ${report.rowsAccepted} rows but stored ${stored!.rows}`);
  const { requests, medianMs, p99Ms, failed } = report;
  return { refused: report.rowsAccepted === 0, rowsPerSecond: Math.round(report.rowsAccepted / report.seconds), requests, medianMs, p99Ms, failed, seconds: round(report.seconds, 1) };
}

async function measure(target: string, workers: number | null, database: Database, sizes: Sizes): Promise<TargetResult> {
  const started = process.hrtime.bigint();
  const citus = workers !== null;
  const { rows: [shardCount] } = citus
    ? await sql<{ count: string }>`select current_setting('citus.shard_count') as count`.execute(database.admin)
    : { rows: [null] };
  await ensureMonthlyPartitions(database, { monthsBack: 3 });
  const { tenantIds, userIds } = await createTenantsAndUsers(database, TENANTS, sizes.usersPerTenant, 'cluster');
  const perTenantRows = sizes.total / TENANTS;
  const refused = await ingestRefusal(database, tenantIds[0]!, userIds[0]![0]!);
  if (refused) console.log(`  ${target}: the tenant's ingest was refused (${refused}); loading through the same repository under the owner's role`);
  const insert = (index: number) => (trx: TenantTx) => new ActivityRepository(trx).insertBatch(activityBatchOf(activityRows(perTenantRows, userIds[index]!, index * perTenantRows)));
  const load = await timed(() => perTenant(TENANTS, (index) => (refused
    ? database.admin.transaction().execute(async (trx) => insert(index)(await scopeTransaction(trx, { tenantId: tenantIds[index]! }, { keepRole: true })))
    : withTenant(database, { tenantId: tenantIds[index]! }, insert(index)))));
  const { rows: [counted] } = await sql<{ rows: number }>`select count(*)::int as rows from user_activity`.execute(database.admin);
  if (counted!.rows !== sizes.total) throw new Error(`${target}: loaded ${counted!.rows} rows, expected ${sizes.total}`);
  await sql`vacuum analyze user_activity`.execute(database.admin);
  const recent = await recentOfType(database, tenantIds, sizes.queries);
  const split = await splitRecentOfType(database, tenantIds, ACTIVITY_TYPES, EXPLAINS);
  const countByTypeMs = await countByType(database);
  const nodes = await nodeShares(database, citus);
  // Refused, a short run is enough to show what the API answers.
  const http = await httpIngest(database, refused ? Math.min(3, sizes.httpSeconds) : sizes.httpSeconds);
  console.log(`  ${target}: measured in ${(msSince(started) / 1000).toFixed(1)} s`);
  return {
    target, workers, shardCount: shardCount ? Number(shardCount.count) : null,
    load: { seconds: round(load.ms / 1000, 2), rowsPerSecond: Math.round(sizes.total / (load.ms / 1000)), role: refused ? 'owner' : 'tenant', refused },
    recentOfType: recent, split, countByTypeMs, nodes, httpIngest: http,
  };
}

/** A cluster started, migrated and measured, destroyed whatever happens. */
async function measureCluster(kit: string, port: number, workers: number, sizes: Sizes): Promise<TargetResult> {
  const started = process.hrtime.bigint();
  let cluster: CitusCluster | undefined;
  let database: Database | undefined;
  try {
    cluster = await startCitusCluster(kit, port, workers);
    // Migration 0018 sets database options (propagated SET LOCAL, triggers on shards) that only
    // connections opened after it carry: the benchmark's pool opens once it is done.
    const migrating = openDatabase(cluster.url, { maxConnections: 1 });
    await migrate(migrating).finally(() => migrating.close());
    database = openDatabase(cluster.url, { maxConnections: 20, applicationName: 'strata-bench' });
    console.log(`  cluster of ${workers} worker${workers === 1 ? '' : 's'} on 127.0.0.1:${port}: up and migrated in ${(msSince(started) / 1000).toFixed(1)} s`);
    return await measure(`Citus, ${workers} worker${workers === 1 ? '' : 's'}`, workers, database, sizes);
  } finally {
    await database?.close();
    await cluster?.destroy();
  }
}

const ratio = (value: number, baseline: number) => `${round(value / baseline, 2)}x`;
const mb = (bytes: number) => round(bytes / 1024 / 1024, 1);

function print(results: TargetResult[], sizes: Sizes): void {
  const [single] = results;
  const base = single!;
  printTable(`Load ${sizes.total.toLocaleString('en-US')} activities (${TENANTS} tenants, one batch per tenant through ActivityRepository.insertBatch, ${LOADERS} at a time) and HTTP ingest (POST /v1/activities, ${BATCH.toLocaleString('en-US')}-row batches, ${CONNECTIONS} connections, ${sizes.httpSeconds} s); baseline: the single server`, [
    ['target', 'load role', 'load s', 'load rows/s', 'vs single', 'HTTP ingest rows/s', 'vs single', 'HTTP median / p99 ms', 'non-201 / requests'],
    ...results.map((result) => [result.target, result.load.refused ? 'owner (tenant refused)' : 'tenant', result.load.seconds, result.load.rowsPerSecond,
      ratio(result.load.rowsPerSecond, base.load.rowsPerSecond),
      result.httpIngest.refused ? 'refused' : result.httpIngest.rowsPerSecond,
      result.httpIngest.refused ? '-' : ratio(result.httpIngest.rowsPerSecond, base.httpIngest.rowsPerSecond),
      `${result.httpIngest.medianMs} / ${result.httpIngest.p99Ms}`, `${result.httpIngest.failed} / ${result.httpIngest.requests}`]),
  ]);
  printTable(`"10 most recent of type X" for one tenant at ${sizes.total.toLocaleString('en-US')} rows (${sizes.queries} queries each); all tenants counted by type (multi-shard, median of ${MULTI_SHARD_RUNS})`, [
    ['target', 'in its tenant transaction median / p95 ms', 'vs single (median)', 'statement alone median / p95 ms', 'vs single (median)', 'count by type ms', 'vs single'],
    ...results.map((result) => {
      const { inTransaction, statementOnly } = result.recentOfType;
      return [result.target, `${inTransaction.medianMs} / ${inTransaction.p95Ms}`, ratio(inTransaction.medianMs, base.recentOfType.inTransaction.medianMs),
        `${statementOnly.medianMs} / ${statementOnly.p95Ms}`, ratio(statementOnly.medianMs, base.recentOfType.statementOnly.medianMs),
        result.countByTypeMs, ratio(result.countByTypeMs, base.countByTypeMs)];
    }),
  ]);
  printTable(`Where the read's time goes: EXPLAIN ANALYZE of the recent-of-type read on the server the application talks to (medians of ${base.split.runs})`, [
    ['target', 'coordinator planning ms', 'coordinator execution ms', 'worker planning ms', 'worker execution ms', 'routing + round trip ms'],
    ...results.map(({ target, split }) => [target, split.coordinatorPlanningMs, split.coordinatorExecutionMs, split.workerPlanningMs ?? '-', split.workerExecutionMs ?? '-',
      split.workerExecutionMs === null ? '-' : round(split.coordinatorExecutionMs - split.workerExecutionMs - (split.workerPlanningMs ?? 0), 3)]),
  ]);
  printTable('Per node after the load (user_activity: rows and shards; bytes of its shards and of every tenant table\'s)', [
    ['target', 'node', 'activity shards', 'activity rows', 'share of rows', 'activity MB', 'all tenant tables MB'],
    ...results.flatMap((result) => {
      const rows = result.nodes.reduce((sum, node) => sum + node.rows, 0);
      return result.nodes.map((node) => [result.target, node.node, node.shards, node.rows, `${Math.round((100 * node.rows) / rows)}%`,
        mb(node.activityBytes), mb(node.tenantBytes)]);
    }),
  ]);
}

export async function runClusterBench(server: BenchServer, options: { quick?: boolean } = {}) {
  const kit = findCitusKit();
  if (!kit) {
    console.log('\ncluster: skipped (the Citus kit, install.sh and cluster.sh, was not found in STRATA_CITUS_KIT, ../shared/citus or /work/shared/citus)');
    return undefined;
  }
  const sizes: Sizes = options.quick
    ? { total: 200_000, usersPerTenant: 100, queries: 200, httpSeconds: 5 }
    : { total: 1_000_000, usersPerTenant: 1_000, queries: 200, httpSeconds: 15 };
  console.log(`\ncluster: the single server, then Citus clusters of ${CLUSTERS.map((cluster) => cluster.workers).join(' and ')} workers from ${kit}, one after the other`);
  const results: TargetResult[] = [];
  const single = await server.freshDatabase('cluster');
  results.push(await measure('single server', null, single, sizes));
  for (const { port, workers } of CLUSTERS) results.push(await measureCluster(kit, port, workers, sizes));
  print(results, sizes);
  const output = { rows: sizes.total, tenants: TENANTS, loaders: LOADERS, queries: sizes.queries, httpSeconds: sizes.httpSeconds, results };
  console.log(`written to ${await writeResults('cluster', output)}`);
  return output;
}
