import { sql, type Kysely } from 'kysely';

// 0015 marked the GIN operators LEAKPROOF on the server it ran on: on a Citus cluster that is the
// coordinator, while the tenant queries' plans are made on the workers, each with its own pg_proc in
// its own copy of the database. There the three operators stayed unmarked and every tag, full-text
// and metadata query read the tenant's whole shard instead of its GIN index (EXPLAIN-tested on a
// coordinator and two workers). Citus propagates ALTER FUNCTION only for functions it distributes,
// which built-in ones cannot be, so the statements go to each worker as they are. They run over
// Citus's own connections to the workers, outside this migration's transaction: both states are
// correct (only the plans differ), and a rerun sets the same marks.
const functions = [
  'jsonb_contains(jsonb, jsonb)',
  'arraycontains(anyarray, anyarray)',
  'ts_match_vq(tsvector, tsquery)',
];

async function markOnWorkers(db: Kysely<any>, leakproof: boolean): Promise<void> {
  const { rows: [found] } = await sql<{ citus: boolean; superuser: boolean }>`
    select exists (select 1 from pg_extension where extname = 'citus') as citus,
      (select rolsuper from pg_roles where rolname = current_user) as superuser`.execute(db);
  if (!found?.citus) return;
  if (!found.superuser) {
    await sql`do $$ begin raise notice 'not a superuser: GIN indexes stay unused by tenant queries on the workers'; end $$`.execute(db);
    return;
  }
  const statements = functions.map((fn) => `ALTER FUNCTION ${fn} ${leakproof ? '' : 'NOT '}LEAKPROOF`).join('; ');
  const { rows } = await sql<{ nodename: string; nodeport: number; success: boolean; result: string }>`
    select nodename, nodeport, success, result from run_command_on_workers(${statements})`.execute(db);
  const failed = rows.filter((row) => !row.success);
  if (failed.length > 0) {
    throw new Error(`marking the search operators on the workers failed: ${failed.map((row) => `${row.nodename}:${row.nodeport}: ${row.result}`).join('; ')}`);
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await markOnWorkers(db, true);
}

export async function down(db: Kysely<any>): Promise<void> {
  await markOnWorkers(db, false);
}
