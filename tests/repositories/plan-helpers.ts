import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import type { Database } from '../../src/db/database.js';
import { withTenant } from '../../src/db/tenant.js';
import { onCitus } from '../helpers/database.js';

export interface Statement {
  text: string;
  values: unknown[];
}

export interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Presorted Key'?: string[];
  'Parent Relationship'?: string;
  'Actual Rows'?: number;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

/**
 * Records every statement, with its bound values, that the pool's clients send while `capture` runs,
 * so a test can EXPLAIN exactly what a repository ran. Call it before the pool opens its first
 * connection: it wraps each client as it connects.
 */
export function recordStatements(pool: pg.Pool) {
  const log: Statement[] = [];
  let recording = false;
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      // A COPY arrives as a stream object that carries its statement in `text`.
      const text = typeof args[0] === 'string' ? args[0] : (args[0] as { text?: unknown } | undefined)?.text;
      if (recording && typeof text === 'string') log.push({ text, values: Array.isArray(args[1]) ? [...args[1]] : [] });
      return query(...args);
    };
  });
  return {
    async capture(fn: () => Promise<unknown>): Promise<Statement[]> {
      log.length = 0;
      recording = true;
      try {
        await fn();
      } finally {
        recording = false;
      }
      return [...log];
    },
  };
}

/** The one captured statement that reads or writes `table` (the tenant set-up statement is left out). */
export function statementOn(statements: Statement[], table: string): Statement {
  const matching = statements.filter((statement) => new RegExp(`\\b(from|into)\\s+"?${table}"?\\b`, 'i').test(statement.text));
  if (matching.length !== 1) throw new Error(`expected one statement on ${table}, got ${matching.length}: ${statements.map((s) => s.text).join(' | ')}`);
  return matching[0]!;
}

/**
 * The statement with its bound values written in as literals. Citus plans a statement whose
 * tenant_id is a parameter for every shard (EXPLAIN then shows one task of four, any tenant's);
 * with the value written in, the statement routes to the tenant's one shard and EXPLAIN shows that
 * shard's plan, as the execution with the bound value runs it.
 */
export function withValuesInlined(statement: Statement): string {
  return statement.text.replace(/\$(\d+)\b/g, (_, position: string) => {
    const value = statement.values[Number(position) - 1];
    if (value === null || value === undefined) return 'null';
    if (value instanceof Date) return pg.escapeLiteral(value.toISOString());
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
    if (typeof value === 'string' || typeof value === 'boolean') return pg.escapeLiteral(String(value));
    throw new Error(`cannot inline parameter $${position} of type ${typeof value}`);
  });
}

/** EXPLAIN (FORMAT JSON) of a captured statement under the tenant's policy, as the application role. */
export async function explain(database: Database, tenantId: number, statement: Statement, analyze = false): Promise<PlanNode> {
  return withTenant(database, { tenantId }, async (trx) => {
    const options = analyze ? 'analyze, costs off, format json' : 'format json';
    const query = onCitus()
      ? CompiledQuery.raw(`explain (${options}) ${withValuesInlined(statement)}`)
      : CompiledQuery.raw(`explain (${options}) ${statement.text}`, statement.values);
    const { rows } = await trx.executeQuery<{ 'QUERY PLAN': { Plan: PlanNode }[] }>(query);
    return rows[0]!['QUERY PLAN'][0]!.Plan;
  });
}

interface CitusJob {
  // Each task's remote plan is EXPLAIN's own output: a list holding one { Plan }.
  Job?: { 'Task Count'?: number; Tasks?: Array<{ 'Remote Plan'?: Array<Array<{ Plan: PlanNode }>> }> };
}

// A shard's relations and indexes carry the shard id: user_activity_p2026_12_102345. Citus cuts a
// name that would pass 63 bytes with it and puts a hash of the whole name before the id
// (user_activity_p2026_09_tenant_id_user_id_create_589bc9aa_102115): such a name keeps its prefix
// only, ending in '…', which `logicalIndex` resolves.
export function withoutShardId(name: string): string {
  const cut = /^(.*)_[0-9a-f]{8}_\d+$/i.exec(name);
  if (cut && name.length === 63) return `${cut[1]}…`;
  return name.replace(/_\d+$/, '');
}

function shardNodeAsLogical(node: PlanNode): PlanNode {
  const strip = (name: string | undefined) => (name === undefined ? name : withoutShardId(name));
  return { ...node, 'Relation Name': strip(node['Relation Name']), 'Index Name': strip(node['Index Name']) };
}

/**
 * Every node of a plan. On a Citus coordinator the plan is a Custom Scan whose tasks carry each
 * shard's own plan (read from the worker that holds it): those nodes are included, named as the
 * logical table and index they copy.
 */
export function planNodes(plan: PlanNode): PlanNode[] {
  const remote = ((plan['Distributed Query'] as CitusJob | undefined)?.Job?.Tasks ?? [])
    .flatMap((task) => (task['Remote Plan'] ?? []).flat()).flatMap((remotePlan) => planNodes(remotePlan.Plan).map(shardNodeAsLogical));
  return [plan, ...remote, ...(plan.Plans ?? []).flatMap(planNodes)];
}

/**
 * The plan that reads the rows: the plan itself on one server; on a Citus coordinator the plan of
 * its one task on the worker that holds the tenant's shard (its relations and indexes named as the
 * logical ones they copy), and an error when the statement was
 * planned for more than one shard (a tenant's read must route to its own).
 */
export function rowPlan(plan: PlanNode): PlanNode {
  const job = (plan['Distributed Query'] as CitusJob | undefined)?.Job;
  if (!job) return plan;
  const tasks = job['Task Count'];
  const remote = (job.Tasks ?? []).flatMap((task) => (task['Remote Plan'] ?? []).flat());
  if (tasks !== 1 || remote.length !== 1) throw new Error(`expected a read routed to one shard, planned as ${tasks} tasks`);
  const logical = (node: PlanNode): PlanNode => ({ ...shardNodeAsLogical(node), ...(node.Plans ? { Plans: node.Plans.map(logical) } : {}) });
  return logical(remote[0]!.Plan);
}

const indexScanTypes = new Set(['Index Scan', 'Index Only Scan', 'Bitmap Index Scan']);

export function indexScans(plan: PlanNode): PlanNode[] {
  return planNodes(plan).filter((node) => indexScanTypes.has(node['Node Type']));
}

export interface IndexInfo {
  /** The table (or partition) the index is on. */
  table: string;
  /** The index on the partitioned table this partition index belongs to; the index itself otherwise. */
  parent: string;
}

export async function indexCatalog(database: Database): Promise<Map<string, IndexInfo>> {
  const { rows } = await sql<{ index: string; table: string; parent: string | null }>`
    select i.relname as index, t.relname as table, p.relname as parent
    from pg_index x
      join pg_class i on i.oid = x.indexrelid
      join pg_class t on t.oid = x.indrelid
      join pg_namespace n on n.oid = i.relnamespace
      left join pg_inherits h on h.inhrelid = i.oid
      left join pg_class p on p.oid = h.inhparent
    where n.nspname = 'public'`.execute(database.admin);
  return new Map(rows.map((row) => [row.index, { table: row.table, parent: row.parent ?? row.index }]));
}

/** The catalog entry of an index named in a plan, a name cut on a shard (ending in '…') by its one match. */
export function logicalIndex(indexes: Map<string, IndexInfo>, name: string): IndexInfo {
  const exact = indexes.get(name);
  if (exact) return exact;
  const matches = name.endsWith('…') ? [...indexes.keys()].filter((index) => index.startsWith(name.slice(0, -1))) : [];
  if (matches.length !== 1) throw new Error(`index ${name} is ${matches.length ? 'ambiguous' : 'not'} in the catalog: ${matches.join(', ')}`);
  return indexes.get(matches[0]!)!;
}
