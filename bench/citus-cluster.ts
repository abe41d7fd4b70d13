import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { CompiledQuery, sql } from 'kysely';
import type { Database } from '../src/db/database.js';
import { withTenant } from '../src/db/tenant.js';
import { ActivityRepository } from '../src/repositories/activity-repository.js';
import { median, round } from './support.js';

const run = promisify(execFile);
const repository = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The Citus kit (install.sh, cluster.sh), looked for where .ci/citus looks; null when absent. */
export function findCitusKit(): string | null {
  const candidates = [process.env.STRATA_CITUS_KIT, join(repository, '../shared/citus'), '/work/shared/citus'];
  return candidates.find((candidate) => candidate && existsSync(join(candidate, 'cluster.sh'))) ?? null;
}

export interface CitusCluster {
  /** The coordinator's URL of a database made on every node, with the workers registered. */
  readonly url: string;
  readonly workers: number;
  destroy(): Promise<void>;
}

/**
 * A cluster of its own: a coordinator on `port` and `workers` workers on the ports after it, data in
 * a fresh temporary folder, so a cluster someone else runs is never touched. Destroyed even when
 * starting it fails half-way.
 */
export async function startCitusCluster(kit: string, port: number, workers: number): Promise<CitusCluster> {
  const env = { ...process.env, CITUS_PORT: String(port), CITUS_DIR: await mkdtemp(join(tmpdir(), 'strata-bench-citus-')) };
  const script = join(kit, 'cluster.sh');
  const destroy = async () => {
    await run(script, ['destroy'], { env });
  };
  try {
    await run(script, ['start', String(workers)], { env });
    const { stdout } = await run(script, ['createdb', 'strata_bench'], { env });
    return { url: stdout.trim().split('\n').pop()!, workers, destroy };
  } catch (error) {
    await destroy().catch(() => undefined);
    throw error;
  }
}

export interface NodeShare {
  node: string;
  /** user_activity shards (one per partition per shard group) on the node. */
  shards: number;
  rows: number;
  activityBytes: number;
  /** Every tenant table's shards on the node. */
  tenantBytes: number;
}

/**
 * Where the activities ended up. Rows are counted per tenant and placed through app_user's shard of
 * that tenant (every tenant table is colocated with it); bytes come from citus_shards. On a single
 * server the one node holds everything.
 */
export async function nodeShares(database: Database, citus: boolean): Promise<NodeShare[]> {
  const { rows: perTenant } = await sql<{ tenant_id: string; rows: number }>`
    select tenant_id, count(*)::int as rows from user_activity group by tenant_id`.execute(database.admin);
  if (!citus) {
    const { rows: [size] } = await sql<{ activity: string; shards: number }>`
      select sum(pg_total_relation_size(inhrelid))::bigint as activity, count(*)::int as shards
      from pg_inherits where inhparent = 'user_activity'::regclass`.execute(database.admin);
    return [{
      node: 'the server', shards: size!.shards, rows: perTenant.reduce((sum, tenant) => sum + tenant.rows, 0),
      activityBytes: Number(size!.activity), tenantBytes: Number(size!.activity),
    }];
  }
  const { rows: placed } = await sql<{ tenant_id: string; node: string }>`
    select t.id as tenant_id, n.nodename || ':' || n.nodeport as node
    from unnest(${perTenant.map((tenant) => tenant.tenant_id)}::bigint[]) as t (id)
    join pg_dist_placement p on p.shardid = get_shard_id_for_distribution_column('app_user', t.id)
    join pg_dist_node n on n.groupid = p.groupid`.execute(database.admin);
  const nodeOf = new Map(placed.map((row) => [row.tenant_id, row.node]));
  const { rows: sizes } = await sql<{ node: string; shards: number; activity: string; tenant: string }>`
    select nodename || ':' || nodeport as node,
      count(*) filter (where table_name in (select inhrelid::regclass from pg_inherits where inhparent = 'user_activity'::regclass))::int as shards,
      coalesce(sum(shard_size) filter (where table_name in (select inhrelid::regclass from pg_inherits where inhparent = 'user_activity'::regclass)), 0)::bigint as activity,
      coalesce(sum(shard_size) filter (where citus_table_type = 'distributed'), 0)::bigint as tenant
    from citus_shards group by nodename, nodeport order by nodeport`.execute(database.admin);
  return sizes.map((size) => ({
    node: size.node, shards: size.shards,
    rows: perTenant.filter((tenant) => nodeOf.get(tenant.tenant_id) === size.node).reduce((sum, tenant) => sum + tenant.rows, 0),
    activityBytes: Number(size.activity), tenantBytes: Number(size.tenant),
  }));
}

interface PlanNode {
  'Planning Time'?: number;
  'Execution Time'?: number;
  [key: string]: unknown;
}

/** The first task's remote plan of a Citus plan (its top node carries the worker's own times). */
function firstRemotePlan(node: unknown): PlanNode | null {
  if (node === null || typeof node !== 'object') return null;
  const tasks = (node as { 'Distributed Query'?: { Job?: { Tasks?: { 'Remote Plan'?: PlanNode[][] }[] } } })['Distributed Query']?.Job?.Tasks;
  const remote = tasks?.[0]?.['Remote Plan']?.[0]?.[0];
  if (remote) return remote;
  for (const value of Object.values(node)) {
    const found = firstRemotePlan(value);
    if (found) return found;
  }
  return null;
}

export interface QuerySplit {
  /** Planning on the server the application talks to (the coordinator on a cluster). */
  coordinatorPlanningMs: number;
  /** The statement's execution as the coordinator saw it, its tasks' round trips included. */
  coordinatorExecutionMs: number;
  /** The task's planning and execution on its worker (null on a single server). */
  workerPlanningMs: number | null;
  workerExecutionMs: number | null;
  runs: number;
}

/**
 * EXPLAIN ANALYZE of the recent-of-type read, as the repository builds it, in a tenant transaction:
 * medians of `runs` runs. On a cluster the task's own times come back inside the coordinator's plan,
 * so the rest of the coordinator's execution is routing and the round trip to the worker.
 */
export async function splitRecentOfType(database: Database, tenantIds: readonly number[], types: readonly string[], runs: number): Promise<QuerySplit> {
  const samples: { planning: number; execution: number; workerPlanning: number | null; workerExecution: number | null }[] = [];
  for (let index = 0; index < runs; index += 1) {
    const tenantId = tenantIds[(index * 37) % tenantIds.length]!;
    const type = types[(index * 7) % types.length]!;
    const [explained] = await withTenant(database, { tenantId }, async (trx) => {
      const compiled = new ActivityRepository(trx).forTenant().where('a.activity_type', '=', type)
        .orderBy('a.created_at', 'desc').limit(sql.lit(10)).compile();
      const { rows } = await trx.executeQuery<{ 'QUERY PLAN': PlanNode[] }>(
        CompiledQuery.raw(`explain (analyze, format json) ${compiled.sql}`, [...compiled.parameters]));
      return rows[0]!['QUERY PLAN'];
    });
    const remote = firstRemotePlan(explained);
    samples.push({
      planning: explained!['Planning Time']!, execution: explained!['Execution Time']!,
      workerPlanning: remote?.['Planning Time'] ?? null, workerExecution: remote?.['Execution Time'] ?? null,
    });
  }
  const of = (values: (number | null)[]) => (values.some((value) => value === null) ? null : round(median(values as number[]), 3));
  // The first run opens the worker connections: a cost of the first request, not of the query.
  const steady = samples.slice(1);
  return {
    coordinatorPlanningMs: of(steady.map((sample) => sample.planning))!,
    coordinatorExecutionMs: of(steady.map((sample) => sample.execution))!,
    workerPlanningMs: of(steady.map((sample) => sample.workerPlanning)),
    workerExecutionMs: of(steady.map((sample) => sample.workerExecution)),
    runs: steady.length,
  };
}
