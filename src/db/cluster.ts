import { sql, type Kysely } from 'kysely';
import { StrataError } from '../errors.js';
import { hasCitus } from './distribution.js';
import type { DB } from './schema.generated.js';

// Every tenant table is colocated with app_user (migration 0018): a shard group is one hash range
// of all of them, always on one node, named here by its app_user shard.
const ANCHOR = 'app_user';

export interface ClusterNode {
  nodeId: number;
  host: string;
  port: number;
  role: 'coordinator' | 'worker';
  shardGroups: number;
  tenants: number;
  /** Every shard placed on the node, reference tables included. */
  bytes: number;
}

export interface TenantPlacement {
  tenantId: number;
  name: string;
  shardId: number;
  node: string;
  /** Bytes of the tenant's shard group across the colocated tables: exact when it holds this tenant alone. */
  bytes: number;
  /** Other tenants in the same shard group (0 once the tenant is isolated). */
  sharedWith: number;
}

export interface ClusterStatus {
  nodes: ClusterNode[];
  shardGroups: number;
  tenants: number;
  biggestTenants: TenantPlacement[];
  /** How shards are copied: `auto` (logical replication) when every node has wal_level = logical. */
  transferMode: TransferMode;
}

export type TransferMode = 'auto' | 'block_writes';

export async function requireCluster(db: Kysely<DB>): Promise<void> {
  if (!(await hasCitus(db))) {
    throw new StrataError('NOT_A_CLUSTER', 'the database is not on a Citus cluster (no citus extension): its tenants all live on this one server');
  }
}

/**
 * Logical replication lets writes go on during a shard copy and pauses them only for the switch;
 * without wal_level = logical on every node Citus must block writes to the shard for the whole copy.
 */
export async function transferMode(db: Kysely<DB>): Promise<TransferMode> {
  const { rows: [found] } = await sql<{ logical: boolean }>`
    select bool_and(success and result = 'logical') as logical from run_command_on_all_nodes('show wal_level')`.execute(db);
  return found?.logical ? 'auto' : 'block_writes';
}

const nodeName = (host: string, port: number) => `${host}:${port}`;

interface GroupRow { shard_id: string; node_id: number; host: string; port: number; bytes: string }

/** Shard groups of the tenant tables with their node and their bytes summed over every colocated table. */
async function shardGroups(db: Kysely<DB>): Promise<GroupRow[]> {
  const { rows } = await sql<GroupRow>`
    with anchor as (select colocationid as colocation_id from pg_dist_partition where logicalrelid = ${ANCHOR}::regclass),
    shards as materialized (
      select cs.shardid, cs.table_name, cs.nodename, cs.nodeport, cs.shard_size, s.shardminvalue
      from citus_shards cs join pg_dist_shard s using (shardid)
      where cs.colocation_id = (select colocation_id from anchor))
    select max(shardid) filter (where table_name = ${ANCHOR}::regclass) as shard_id,
      n.nodeid as node_id, n.nodename as host, n.nodeport as port, sum(shard_size) as bytes
    from shards join pg_dist_node n on n.nodename = shards.nodename and n.nodeport = shards.nodeport
    group by shardminvalue, n.nodeid, n.nodename, n.nodeport`.execute(db);
  return rows;
}

export async function clusterStatus(db: Kysely<DB>, { biggest = 10 } = {}): Promise<ClusterStatus> {
  await requireCluster(db);
  const { rows: nodes } = await sql<{ node_id: number; host: string; port: number; coordinator: boolean; bytes: string }>`
    select n.nodeid as node_id, n.nodename as host, n.nodeport as port, n.groupid = 0 as coordinator,
      coalesce((select sum(cs.shard_size) from citus_shards cs where cs.nodename = n.nodename and cs.nodeport = n.nodeport), 0) as bytes
    from pg_dist_node n where n.isactive and n.noderole = 'primary' order by n.groupid`.execute(db);
  const groups = await shardGroups(db);
  const { rows: tenants } = await sql<{ id: number; name: string; shard_id: string }>`
    select id, name, get_shard_id_for_distribution_column(${ANCHOR}, id) as shard_id from tenant`.execute(db);
  const groupOf = new Map(groups.map((group) => [group.shard_id, group]));
  const tenantsIn = new Map<string, number>();
  for (const tenant of tenants) tenantsIn.set(tenant.shard_id, (tenantsIn.get(tenant.shard_id) ?? 0) + 1);
  const placements = tenants.map((tenant): TenantPlacement => {
    const group = groupOf.get(tenant.shard_id)!;
    return {
      tenantId: tenant.id, name: tenant.name, shardId: Number(tenant.shard_id), node: nodeName(group.host, group.port),
      bytes: Number(group.bytes), sharedWith: tenantsIn.get(tenant.shard_id)! - 1,
    };
  });
  // Bytes first; between equal groups, a tenant alone in its group is the more certain figure.
  placements.sort((a, b) => b.bytes - a.bytes || a.sharedWith - b.sharedWith || a.tenantId - b.tenantId);
  return {
    nodes: nodes.map((node) => {
      const here = groups.filter((group) => group.node_id === node.node_id);
      return {
        nodeId: node.node_id, host: node.host, port: node.port, role: node.coordinator ? 'coordinator' : 'worker',
        shardGroups: here.length, tenants: here.reduce((sum, group) => sum + (tenantsIn.get(group.shard_id) ?? 0), 0),
        bytes: Number(node.bytes),
      };
    }),
    shardGroups: groups.length,
    tenants: tenants.length,
    biggestTenants: placements.slice(0, biggest),
    transferMode: await transferMode(db),
  };
}

export interface ShardMove {
  shardId: number;
  from: string;
  to: string;
}

/** Citus's own rebalance plan for the tenant tables, one move per shard group. */
export async function rebalancePlan(db: Kysely<DB>, options: { strategy?: string; drainOnly?: boolean } = {}): Promise<ShardMove[]> {
  await requireCluster(db);
  if (options.strategy) {
    const { rows: strategies } = await sql<{ name: string }>`select name from pg_dist_rebalance_strategy order by name`.execute(db);
    if (!strategies.some((strategy) => strategy.name === options.strategy)) {
      throw new StrataError('VALIDATION_FAILED', `--strategy must be one of ${strategies.map((strategy) => strategy.name).join(', ')}, got "${options.strategy}"`);
    }
  }
  const { rows } = await sql<{ shardid: string; sourcename: string; sourceport: number; targetname: string; targetport: number }>`
    select shardid, sourcename, sourceport, targetname, targetport
    from get_rebalance_table_shards_plan(${ANCHOR}::regclass, drain_only => ${options.drainOnly ?? false},
      rebalance_strategy => ${options.strategy ?? null})
    where table_name = ${ANCHOR}::regclass`.execute(db);
  return rows.map((row) => ({
    shardId: Number(row.shardid), from: nodeName(row.sourcename, row.sourceport), to: nodeName(row.targetname, row.targetport),
  }));
}

/**
 * Moves a shard group (the shard and every shard colocated with it) to another node. The old copy
 * is left for Citus's maintenance daemon to drop: dropped at once (citus_cleanup_orphaned_resources)
 * it failed reads still routed to it with 42P01, 2 of 117 under traffic.
 */
export async function moveShardGroup(db: Kysely<DB>, move: ShardMove, mode: TransferMode): Promise<void> {
  const [fromHost, fromPort] = splitNode(move.from);
  const [toHost, toPort] = splitNode(move.to);
  await sql`select citus_move_shard_placement(${move.shardId}::bigint, ${fromHost}, ${fromPort}::int, ${toHost}, ${toPort}::int,
    shard_transfer_mode => ${mode}::citus.shard_transfer_mode)`.execute(db);
}

function splitNode(node: string): [string, number] {
  const at = node.lastIndexOf(':');
  const port = Number(node.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new StrataError('VALIDATION_FAILED', `a node is HOST:PORT, got "${node}"`);
  }
  return [node.slice(0, at), port];
}

export interface TenantShard {
  tenantId: number;
  shardId: number;
  node: string;
  /** Whether the shard group's hash range holds this tenant's value alone. */
  isolated: boolean;
}

export async function tenantShard(db: Kysely<DB>, tenantId: number): Promise<TenantShard> {
  await requireCluster(db);
  const { rows: [found] } = await sql<{ shard_id: string; host: string; port: number; isolated: boolean }>`
    select s.shardid as shard_id, n.nodename as host, n.nodeport as port, s.shardminvalue = s.shardmaxvalue as isolated
    from tenant t
    join pg_dist_shard s on s.shardid = get_shard_id_for_distribution_column(${ANCHOR}, t.id)
    join pg_dist_placement p on p.shardid = s.shardid
    join pg_dist_node n on n.groupid = p.groupid and n.noderole = 'primary'
    where t.id = ${tenantId}`.execute(db);
  if (!found) throw new StrataError('NOT_FOUND', `tenant ${tenantId} does not exist`);
  return { tenantId, shardId: Number(found.shard_id), node: nodeName(found.host, found.port), isolated: found.isolated };
}

/**
 * Splits the tenant's hash value out of its shard group into a group of its own, on the same node;
 * `already` when it had one.
 */
export async function isolateTenant(db: Kysely<DB>, tenantId: number, mode: TransferMode): Promise<{ shard: TenantShard; already: boolean }> {
  const before = await tenantShard(db, tenantId);
  if (before.isolated) return { shard: before, already: true };
  await sql`select isolate_tenant_to_new_shard(${ANCHOR}, ${tenantId}::bigint, 'CASCADE',
    shard_transfer_mode => ${mode}::citus.shard_transfer_mode)`.execute(db);
  return { shard: await tenantShard(db, tenantId), already: false };
}

/**
 * The worker holding the fewest bytes, if the shard group would leave its node for it with both
 * nodes lighter than its own node is now; null when it is best where it is.
 */
export async function lighterWorker(db: Kysely<DB>, shard: TenantShard): Promise<string | null> {
  const [status, groups] = await Promise.all([clusterStatus(db, { biggest: 0 }), shardGroups(db)]);
  const groupBytes = Number(groups.find((group) => Number(group.shard_id) === shard.shardId)?.bytes ?? 0);
  const workers = status.nodes.filter((node) => node.role === 'worker');
  const current = workers.find((node) => nodeName(node.host, node.port) === shard.node);
  const lightest = workers.filter((node) => node !== current).sort((a, b) => a.bytes - b.bytes || a.nodeId - b.nodeId)[0];
  if (!lightest || (current && lightest.bytes + groupBytes >= current.bytes)) return null;
  return nodeName(lightest.host, lightest.port);
}

/** A node named on the command line, refused unless it is an active primary that holds shards. */
export async function requireWorker(db: Kysely<DB>, node: string): Promise<string> {
  const [host, port] = splitNode(node);
  const { rows: [found] } = await sql<{ ok: boolean }>`
    select shouldhaveshards as ok from pg_dist_node where nodename = ${host} and nodeport = ${port} and isactive and noderole = 'primary'`.execute(db);
  if (!found) throw new StrataError('NOT_FOUND', `no active node ${node} in the cluster`);
  if (!found.ok) throw new StrataError('VALIDATION_FAILED', `node ${node} does not take shards`);
  return nodeName(host, port);
}
