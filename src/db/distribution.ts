import { sql, type Kysely } from 'kysely';
import pg from 'pg';
import type { Database } from './database.js';
import type { DB } from './schema.generated.js';

/** Where Strata's tables live: one PostgreSQL server, or a Citus cluster. */
export interface Distribution {
  mode: 'single-server' | 'citus';
  /** Active worker nodes (0 on a single server). */
  workers: number;
  /** Tenant tables sharded by tenant_id and colocated with app_user. */
  distributed: string[];
  /** Global tables that tenant tables point at, copied to every node. */
  reference: string[];
  /** Tables that are not placed as the rules above say, with how they are placed now. */
  misplaced: Array<{ table: string; expected: 'distributed' | 'reference'; actual: string }>;
}

const citusInstalled = `select exists (select 1 from pg_extension where extname = 'citus') as citus`;

export async function hasCitus(db: Kysely<DB>): Promise<boolean> {
  const { rows } = await sql<{ citus: boolean }>`${sql.raw(citusInstalled)}`.execute(db);
  return rows[0]!.citus;
}

const citusByPool = new WeakMap<pg.Pool, Promise<boolean>>();

/**
 * Whether the database runs on Citus, asked once per database handle over a connection of its own,
 * so that no pooled connection's work (nor the statements its tests count) carries the question.
 */
export function onCitusCluster(database: Pick<Database, 'pool' | 'url'>): Promise<boolean> {
  let answer = citusByPool.get(database.pool);
  if (!answer) {
    answer = (async () => {
      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      try {
        const { rows } = await client.query<{ citus: boolean }>(citusInstalled);
        return rows[0]!.citus;
      } finally {
        await client.end();
      }
    })();
    // A failed question (database down) is asked again next time.
    answer.catch(() => citusByPool.delete(database.pool));
    citusByPool.set(database.pool, answer);
  }
  return answer;
}

/**
 * Reads the placement rules from the catalog rather than from a list, so a table added later is
 * checked too: every table with a tenant_id is distributed by it, colocated with app_user; every
 * table without one that a tenant table references is a reference table.
 */
export async function describeDistribution(db: Kysely<DB>): Promise<Distribution> {
  const { rows: tables } = await sql<{ table: string; tenant: boolean; referenced: boolean }>`
    select c.relname as table,
      exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'tenant_id' and not a.attisdropped) as tenant,
      exists (select 1 from pg_constraint k join pg_attribute a on a.attrelid = k.conrelid and a.attname = 'tenant_id'
              where k.contype = 'f' and k.confrelid = c.oid and k.conrelid <> c.oid) as referenced
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition
    order by c.relname`.execute(db);
  const expected = new Map<string, 'distributed' | 'reference'>();
  for (const table of tables) {
    if (table.tenant) expected.set(table.table, 'distributed');
    else if (table.referenced) expected.set(table.table, 'reference');
  }
  if (!(await hasCitus(db))) {
    return { mode: 'single-server', workers: 0, distributed: [], reference: [], misplaced: [] };
  }
  const { rows: [nodes] } = await sql<{ workers: number }>`
    select count(*)::int as workers from pg_dist_node where isactive and groupid <> 0 and noderole = 'primary'`.execute(db);
  const { rows: placed } = await sql<{ table: string; type: string; column: string; colocated: boolean }>`
    select t.table_name::text as table, t.citus_table_type as type, t.distribution_column as column,
      t.colocation_id = (select colocation_id from citus_tables where table_name = 'app_user'::regclass) as colocated
    from citus_tables t join pg_class c on c.oid = t.table_name
    join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'public'`.execute(db);
  const placement = new Map(placed.map((row) => [row.table, row]));
  const distributed: string[] = [];
  const reference: string[] = [];
  const misplaced: Distribution['misplaced'] = [];
  for (const [table, kind] of expected) {
    const found = placement.get(table);
    const ok = kind === 'reference' ? found?.type === 'reference'
      : found?.type === 'distributed' && found.column === 'tenant_id' && found.colocated;
    if (ok) (kind === 'reference' ? reference : distributed).push(table);
    else {
      const actual = !found ? 'local to the coordinator'
        : found.type === 'distributed' ? `distributed by ${found.column}${found.colocated ? '' : ', not colocated with app_user'}` : found.type;
      misplaced.push({ table, expected: kind, actual });
    }
  }
  return { mode: 'citus', workers: nodes!.workers, distributed, reference, misplaced };
}
