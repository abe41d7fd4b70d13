import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CompiledQuery, sql, type RawBuilder, type Transaction } from 'kysely';
import { from as copyFrom } from 'pg-copy-streams';
import { hasCitus } from './distribution.js';
import type { DB } from './schema.generated.js';

/**
 * Batches of at least this many rows go through COPY; smaller ones through one INSERT … SELECT FROM
 * unnest, one round trip instead of four (create staging, COPY, insert, drop). Measured here through
 * the activity repository, one batch at a time (2 shared cores, PostgreSQL 15, median of 15, unnest /
 * COPY ms): 750 rows 42.1 / 34.3, 1,000 rows 38.8 / 38.6, 1,250 rows 41.5 / 42.4, 1,500 rows
 * 58.6 / 52.9, 2,000 rows 78.8 / 74.3. Under concurrency the staging table's catalog writes weigh more:
 * POST /activities with 1,000-row batches on 4 connections stored 36–40k rows/s by unnest against
 * 30–33k by COPY. So COPY from 2,000 rows; `npm run bench` re-measures the single-batch crossover.
 */
export const COPY_THRESHOLD = 2_000;

/** The staging column types a batch can carry; each maps to the array type unnest takes. */
export type ColumnType = 'bigint' | 'text' | 'jsonb' | 'timestamptz' | 'uuid';

/** A value as COPY's text format and unnest's array elements both accept it; null is SQL NULL. */
export type ColumnValue = string | number | null;

export interface BatchColumn<Row> {
  readonly name: string;
  readonly type: ColumnType;
  readonly value: (row: Row) => ColumnValue;
}

/** The shape of a batch: what its staging table is called and which columns it carries. */
export interface BatchShape<Row> {
  readonly name: string;
  readonly columns: readonly BatchColumn<Row>[];
}

export interface RowSourceOptions {
  /** Batches of this many rows or more are staged through COPY. */
  readonly copyThreshold?: number;
}

const COPY_CHUNK_ROWS = 1_000;
const needsEscape = /[\\\n\r\t]/;
const escapable = /[\\\n\r\t]/g;
const escapes: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** One field in COPY's text format: backslash, newline, carriage return and tab would end or split it. */
export function copyField(value: ColumnValue): string {
  if (value === null) return '\\N';
  if (typeof value === 'number') return String(value);
  // Most fields need no escape: testing first is ~3x cheaper than always replacing (10,000-row batches).
  return needsEscape.test(value) ? value.replace(escapable, (character) => escapes[character]!) : value;
}

/** The batch as COPY text, a chunk of rows at a time, so a large batch is never one giant string. */
export function* copyChunks<Row>(columns: readonly BatchColumn<Row>[], rows: readonly Row[]): Generator<string> {
  for (let start = 0; start < rows.length; start += COPY_CHUNK_ROWS) {
    let chunk = '';
    const end = Math.min(start + COPY_CHUNK_ROWS, rows.length);
    for (let index = start; index < end; index += 1) {
      const row = rows[index]!;
      let line = '';
      for (let column = 0; column < columns.length; column += 1) {
        line += (column === 0 ? '' : '\t') + copyField(columns[column]!.value(row));
      }
      chunk += `${line}\n`;
    }
    yield chunk;
  }
}

/**
 * COPY FROM STDIN into `table` on the transaction's own connection. Another pooled connection is
 * another session: it would not see a temporary table nor share the role, the tenant or the outcome.
 * Kysely's PostgresConnection keeps its pg client private, but its executeQuery hands `sql` straight to
 * client.query(), and pg runs any Submittable passed there (how pg-copy-streams plugs in).
 * provideConnection also holds the connection, so no other query of the transaction interleaves.
 */
export async function copyInto(trx: Transaction<DB>, table: string, columns: readonly string[], chunks: Iterable<string>): Promise<void> {
  const target = `${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')})`;
  await trx.getExecutor().provideConnection(async (connection) => {
    const copy = copyFrom(`copy ${target} from stdin`);
    await connection.executeQuery({ ...CompiledQuery.raw(''), sql: copy as unknown as string });
    await pipeline(Readable.from(chunks), copy);
  });
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Hands `write` the batch as a relation aliased `incoming` with the shape's columns, for one
 * INSERT … SELECT: small batches as unnest of one array per column, large ones as a temporary table
 * filled by COPY. PostgreSQL refuses COPY FROM into a table with row-level security, so staging keeps
 * the target's policy in force: the INSERT that moves the rows is checked like any other.
 */
export async function withRowSource<Row, T>(
  trx: Transaction<DB>, shape: BatchShape<Row>, rows: readonly Row[],
  write: (source: RawBuilder<unknown>) => Promise<T>, options: RowSourceOptions = {},
): Promise<T> {
  const names = shape.columns.map((column) => sql.ref(column.name));
  if (rows.length < (options.copyThreshold ?? COPY_THRESHOLD)) {
    const arrays = shape.columns.map((column) => sql`${rows.map(column.value)}::${sql.raw(column.type)}[]`);
    return write(sql`unnest(${sql.join(arrays)}) as incoming (${sql.join(names)})`);
  }
  const staging = `${shape.name}_staging`;
  const definitions = shape.columns.map((column) => sql`${sql.ref(column.name)} ${sql.raw(column.type)}`);
  await sql`create temp table ${sql.table(staging)} (${sql.join(definitions)}) on commit drop`.execute(trx);
  await copyInto(trx, staging, shape.columns.map((column) => column.name), copyChunks(shape.columns, rows));
  const result = await write(sql`${sql.table(staging)} as incoming`);
  // Dropped now rather than at commit, so the same transaction can stage another batch.
  await sql`drop table ${sql.table(staging)}`.execute(trx);
  return result;
}

/** Per-row expressions of an INSERT, over the batch's columns (each a typed value of one row). */
export type RowProjection = (columns: Record<string, RawBuilder<unknown>>) => RawBuilder<unknown>[];

export interface InsertRows {
  readonly table: string;
  readonly targets: readonly string[];
  readonly project: RowProjection;
  /** e.g. `on conflict (tenant_id, client_id) do nothing` */
  readonly conflict?: RawBuilder<unknown>;
}

// Under PostgreSQL's 65,535 parameters per statement for every shape Strata inserts.
const VALUES_CHUNK_ROWS = 5_000;

// Citus moves an INSERT … SELECT whose rows come from the coordinator (unnest, a staging table)
// into the shards with COPY, which it refuses under row-level security ("COPY FROM not supported
// with row-level security"); a multi-row INSERT … VALUES it routes to the shards as it is.
/**
 * Inserts a batch, each row projected by `insert.project`: on a single server as one INSERT …
 * SELECT over withRowSource's relation (unnest, or COPY staging for large batches); on a Citus
 * cluster as INSERT … VALUES in chunks, the tenant policy checking every row either way.
 * Returns the rows inserted.
 */
export async function insertRows<Row>(
  trx: Transaction<DB>, shape: BatchShape<Row>, rows: readonly Row[], insert: InsertRows, options: RowSourceOptions & { cluster?: boolean } = {},
): Promise<number> {
  const targets = sql.join(insert.targets.map((target) => sql.ref(target)));
  const conflict = insert.conflict ?? sql``;
  // A transaction withTenant did not open (scopeTransaction's) does not know: it asks.
  if (!(options.cluster ?? await hasCitus(trx))) {
    const refs = Object.fromEntries(shape.columns.map((column) => [column.name, sql.ref(`incoming.${column.name}`)]));
    const result = await withRowSource(trx, shape, rows, (incoming) => sql`
      insert into ${sql.table(insert.table)} (${targets}) select ${sql.join(insert.project(refs))} from ${incoming} ${conflict}`.execute(trx), options);
    return Number(result.numAffectedRows ?? 0n);
  }
  let inserted = 0;
  for (let start = 0; start < rows.length; start += VALUES_CHUNK_ROWS) {
    const tuples = rows.slice(start, start + VALUES_CHUNK_ROWS).map((row) => {
      const values = Object.fromEntries(shape.columns.map((column) => [column.name, sql`${column.value(row)}::${sql.raw(column.type)}`]));
      return sql`(${sql.join(insert.project(values))})`;
    });
    const result = await sql`insert into ${sql.table(insert.table)} (${targets}) values ${sql.join(tuples)} ${conflict}`.execute(trx);
    inserted += Number(result.numAffectedRows ?? 0n);
  }
  return inserted;
}
