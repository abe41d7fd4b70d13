import type { Command } from 'commander';
import type { ClusterStatus, ShardMove, TransferMode } from '../db/cluster.js';
import type { Database } from '../db/database.js';
import { withRuntime, type CliContext } from './context.js';
import { integerOption } from './options.js';

type ProgressBars = typeof import('cli-progress');

const units = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;

/** 1024-based, like pg_size_pretty, so the figures match what psql shows for the same shards. */
export function formatBytes(bytes: number): string {
  let unit = 0;
  let value = bytes;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return new Intl.NumberFormat('en', { style: 'unit', unit: units[unit], unitDisplay: 'short', maximumFractionDigits: 1 }).format(value);
}

const writesDuringMove: Record<TransferMode, string> = {
  auto: 'writes go on during a move (logical replication), paused only at the switch',
  block_writes: 'writes to a moving shard group wait until its copy is done (wal_level is not logical on every node)',
};

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd());
}

export function statusLines(status: ClusterStatus): string[] {
  const lines = [
    `Citus cluster: ${status.nodes.length} nodes, ${status.shardGroups} shard groups, ${status.tenants} tenants; ${writesDuringMove[status.transferMode]}`,
    '',
    ...table([
      ['node', 'role', 'shard groups', 'tenants', 'bytes'],
      ...status.nodes.map((node) => [`${node.host}:${node.port}`, node.role, String(node.shardGroups), String(node.tenants), formatBytes(node.bytes)]),
    ]),
  ];
  if (status.biggestTenants.length === 0) return lines;
  return [
    ...lines,
    '',
    'biggest tenants (bytes of their shard group, all tenant tables):',
    ...table([
      ['tenant', 'name', 'node', 'shard', 'bytes', 'shared with'],
      ...status.biggestTenants.map((tenant) => [
        String(tenant.tenantId), tenant.name, tenant.node, String(tenant.shardId), formatBytes(tenant.bytes),
        tenant.sharedWith === 0 ? 'alone' : `${tenant.sharedWith} tenant${tenant.sharedWith === 1 ? '' : 's'}`,
      ]),
    ]),
  ];
}

function progressBar(bars: ProgressBars, enabled: boolean, total: number): InstanceType<ProgressBars['SingleBar']> | null {
  if (!enabled || !process.stderr.isTTY) return null;
  const bar = new bars.SingleBar({ stream: process.stderr, format: '{bar} {value}/{total} shard groups | {move}' }, bars.Presets.shades_classic);
  bar.start(total, 0, { move: '' });
  return bar;
}

export interface RebalanceResult {
  moves: ShardMove[];
  mode: TransferMode;
  before: ClusterStatus;
  after: ClusterStatus;
}

/**
 * Citus's plan, run one move at a time in this process: the same moves rebalance_table_shards makes,
 * with progress we can show. citus_rebalance_start runs them as background tasks instead, which
 * never start on a node whose max_worker_processes slots are all taken (seen here: its job stayed
 * "scheduled" with every slot held by other databases' maintenance daemons).
 */
export async function rebalance(
  database: Database,
  options: { strategy?: string; drainOnly?: boolean; onPlan?: (moves: ShardMove[]) => void; onMove?: (done: number, move: ShardMove) => void },
): Promise<RebalanceResult> {
  const { clusterStatus, moveShardGroup, rebalancePlan, transferMode } = await import('../db/cluster.js');
  const db = database.admin;
  const moves = await rebalancePlan(db, options);
  const mode = await transferMode(db);
  const before = await clusterStatus(db, { biggest: 0 });
  options.onPlan?.(moves);
  for (const [index, move] of moves.entries()) {
    options.onMove?.(index, move);
    await moveShardGroup(db, move, mode);
  }
  return { moves, mode, before, after: await clusterStatus(db, { biggest: 0 }) };
}

export interface IsolationResult {
  tenantId: number;
  shardId: number;
  alreadyIsolated: boolean;
  node: string;
  movedFrom: string | null;
}

export async function isolateAndMove(
  database: Database, tenantId: number, target: { to?: string; leastLoaded?: boolean },
): Promise<IsolationResult> {
  const { isolateTenant, lighterWorker, moveShardGroup, requireCluster, requireWorker, transferMode } = await import('../db/cluster.js');
  const db = database.admin;
  await requireCluster(db);
  const to = target.to ? await requireWorker(db, target.to) : undefined;
  const mode = await transferMode(db);
  const before = await isolateTenant(db, tenantId, mode);
  const destination = to ?? (target.leastLoaded ? await lighterWorker(db, before.shard) : null);
  if (!destination || destination === before.shard.node) {
    return { tenantId, shardId: before.shard.shardId, alreadyIsolated: before.already, node: before.shard.node, movedFrom: null };
  }
  await moveShardGroup(db, { shardId: before.shard.shardId, from: before.shard.node, to: destination }, mode);
  return { tenantId, shardId: before.shard.shardId, alreadyIsolated: before.already, node: destination, movedFrom: before.shard.node };
}

export function registerClusterCommands(program: Command, context: CliContext): void {
  const cluster = program.command('cluster').description('tenant placement on a Citus cluster: status, rebalance, isolate a tenant');

  cluster.command('status')
    .description('nodes, shard groups, tenants and bytes per node, and the biggest tenants')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => withRuntime(context, async ({ database }) => {
      const { hasCitus } = await import('../db/distribution.js');
      const { clusterStatus } = await import('../db/cluster.js');
      if (!(await hasCitus(database.admin))) {
        if (options.json) context.out(JSON.stringify({ mode: 'single-server' }));
        else context.out('not on a Citus cluster (no citus extension): every tenant lives on this one server');
        return;
      }
      const status = await clusterStatus(database.admin);
      if (options.json) context.out(JSON.stringify({ mode: 'citus', ...status }));
      else for (const line of statusLines(status)) context.out(line);
    }));

  cluster.command('rebalance')
    .description('move shard groups between workers as Citus\'s rebalancer plans, one at a time')
    .option('--strategy <name>', 'a rebalance strategy (pg_dist_rebalance_strategy), e.g. by_shard_count or by_disk_size')
    .option('--drain-only', 'only move shard groups off nodes marked not to hold shards')
    .option('--no-progress', 'do not draw a progress bar')
    .action(async (options: { strategy?: string; drainOnly?: boolean; progress: boolean }) => withRuntime(context, async ({ database }) => {
      const bars = await import('cli-progress');
      const progress: { bar: ReturnType<typeof progressBar> } = { bar: null };
      const result = await rebalance(database, {
        ...options,
        onPlan: (moves) => { progress.bar = moves.length > 0 ? progressBar(bars, options.progress, moves.length) : null; },
        onMove: (done, move) => progress.bar?.update(done, { move: `shard ${move.shardId} ${move.from} → ${move.to}` }),
      });
      progress.bar?.update(result.moves.length, { move: 'done' });
      progress.bar?.stop();
      if (result.moves.length === 0) {
        context.out('balanced: no shard group to move');
        return;
      }
      context.out(`moved ${result.moves.length} shard group${result.moves.length === 1 ? '' : 's'} (shard_transfer_mode ${result.mode})`);
      for (const node of result.after.nodes.filter((node) => node.role === 'worker')) {
        const was = result.before.nodes.find((before) => before.nodeId === node.nodeId);
        context.out(`  ${node.host}:${node.port}: ${was?.shardGroups ?? 0} → ${node.shardGroups} shard groups, `
          + `${formatBytes(was?.bytes ?? 0)} → ${formatBytes(node.bytes)}`);
      }
    }));

  cluster.command('isolate-tenant')
    .description('give a tenant a shard group of its own, and optionally move it to another worker')
    .argument('<tenant>', 'tenant id')
    .option('--move', 'then move it to the worker holding the fewest bytes, when that lightens its node')
    .option('--to <host:port>', 'then move it to this worker')
    .action(async (raw: string, options: { move?: boolean; to?: string }) => withRuntime(context, async ({ database }) => {
      const tenantId = integerOption('tenant', raw);
      const result = await isolateAndMove(database, tenantId, { to: options.to, leastLoaded: options.move });
      context.out(result.alreadyIsolated
        ? `tenant ${tenantId} already has a shard group of its own (shard ${result.shardId})`
        : `tenant ${tenantId} isolated to shard ${result.shardId}`);
      context.out(result.movedFrom
        ? `moved shard group ${result.shardId} from ${result.movedFrom} to ${result.node}`
        : `shard group ${result.shardId} is on ${result.node}`);
    }));
}
