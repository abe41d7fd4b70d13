import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { DB } from '../db/schema.generated.js';

// The analytics pipeline's progress, read from etl_run_window. Below both the pipeline, which reads
// it inside its own run transaction, and activity retention, which must not drop rows not yet
// counted: functions over any handle (admin or that transaction), as neither is tenant-scoped.

/** A node's Citus group id (0 on a single server) and an xid8 of that node, as decimal text. */
export type NodeXids = ReadonlyMap<number, string>;

export interface Watermark {
  /** Per node: every row of a transaction below this xid has been counted (or quarantined). */
  xids: NodeXids;
  runId: number | null;
}

/**
 * The newest etl_run id, whatever its pipeline or outcome. A run commits its etl_run row in the same
 * transaction as its rows, so this is a version of every analytics table. One index-only read.
 */
export async function newestRunId(db: Kysely<DB>): Promise<number> {
  const row = await db.selectFrom('etl_run').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
  return Number(row?.id ?? 0);
}

/** The user-analytics pipeline's name in etl_run (its watermark's key). */
export const PIPELINE = 'user-analytics';

/**
 * Where the succeeded incremental runs of the pipeline stopped on each node; a node absent has had
 * nothing counted yet. A node's windows form a chain (each starts where the last ended, an empty
 * one is not written), so its last also has the highest xid_from: etl_run_window_chain_key finds it.
 */
export async function lastWatermark(db: Kysely<DB>, pipeline: string): Promise<Watermark> {
  const { rows } = await sql<{ node: number; xid: string; run_id: number }>`
    select distinct on (node) node, xid_to::text as xid, etl_run_id as run_id
    from etl_run_window where pipeline = ${pipeline} order by node, xid_from desc`.execute(db);
  const runId = rows.reduce<number | null>((last, row) => (last === null || row.run_id > last ? row.run_id : last), null);
  return { xids: new Map(rows.map((row) => [row.node, row.xid])), runId };
}

/**
 * Rows a watermark has not counted: at or past its xid on their node, or on a node it has nothing
 * for. Spelled as ranges of (ingest_node, ingest_xid) so each is an index range, not a scan.
 */
export function uncountedBy(watermark: NodeXids): RawBuilder<boolean> {
  const parts: RawBuilder<unknown>[] = [];
  let previous: number | null = null;
  for (const [node, xid] of [...watermark].sort(([a], [b]) => a - b)) {
    parts.push(previous === null ? sql`ingest_node < ${node}::int` : sql`(ingest_node > ${previous}::int and ingest_node < ${node}::int)`);
    parts.push(sql`(ingest_node = ${node}::int and ingest_xid >= ${xid}::xid8)`);
    previous = node;
  }
  parts.push(previous === null ? sql`true` : sql`ingest_node > ${previous}::int`);
  return sql<boolean>`(${sql.join(parts, sql` or `)})`;
}

/**
 * How many rows of a source table (or one of its partitions) the watermark has not counted. Served
 * by the (ingest_node, ingest_xid, id) index: an old partition usually has nothing past the mark.
 */
export async function uncountedRowsIn(db: Kysely<DB>, table: string, watermark: NodeXids): Promise<number> {
  const { rows: [row] } = await sql<{ rows: number }>`
    select count(*)::int as rows from ${sql.table(table)} where ${uncountedBy(watermark)}`.execute(db);
  return row!.rows;
}
