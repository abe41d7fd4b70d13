import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { copyChunks, copyInto, insertRows, type BatchShape } from '../../src/db/copy.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
  await sql`create table batch_target (position bigint primary key, label text)`.execute(database.admin);
  await sql`create table "odd""name" ("a""b" text)`.execute(database.admin);
});

interface Row { position: number; label: string }
const shape: BatchShape<Row> = {
  name: 'batch_sample',
  columns: [
    { name: 'position', type: 'bigint', value: (row) => row.position },
    { name: 'label', type: 'text', value: (row) => row.label },
  ],
};
const rows = (from: number, count: number): Row[] => Array.from({ length: count }, (_, index) => ({ position: from + index, label: `r${from + index}` }));
const stored = async () => (await sql<{ n: number; sum: string }>`select count(*)::int as n, coalesce(sum(position), 0)::text as sum from batch_target`
  .execute(database.admin)).rows[0]!;
const plain = { table: 'batch_target', targets: ['position', 'label'], project: (columns: Record<string, ReturnType<typeof sql.ref>>) => [columns.position!, columns.label!] };
const insert = { ...plain, conflict: sql`on conflict (position) do nothing` };

describe('insertRows', () => {
  it('inserts every row and returns how many it inserted, as INSERT … SELECT on a single server or INSERT … VALUES in chunks of 5,000', async () => {
    for (const cluster of [false, true]) {
      await sql`truncate batch_target`.execute(database.admin);
      expect(await database.admin.transaction().execute((trx) => insertRows(trx, shape, rows(100_001, 5_000), plain, { cluster }))).toBe(5_000);
      await sql`truncate batch_target`.execute(database.admin);
      const batch = rows(1, 5_001);
      // Without an ON CONFLICT clause: a row inserted twice would fail the primary key.
      const measured = await database.queries.measure(() => database.admin.transaction().execute((trx) => insertRows(trx, shape, batch, plain, { cluster })));
      expect(measured.result).toBe(5_001);
      expect(await stored()).toEqual({ n: 5_001, sum: String((5_001 * 5_002) / 2) });
      const inserts = measured.statements.filter((statement) => /^\s*insert into/.test(statement));
      expect(inserts.length).toBe(cluster ? 2 : 1);
      expect(inserts.every((statement) => (cluster ? / values /.test(statement) : / select /.test(statement)))).toBe(true);
      // Rows already there are not counted again.
      expect(await database.admin.transaction().execute((trx) => insertRows(trx, shape, rows(5_000, 3), insert, { cluster }))).toBe(1);
    }
  });

  it('asks the server whether it is a Citus cluster when not told', async () => {
    await sql`truncate batch_target`.execute(database.admin);
    const measured = await database.queries.measure(() => database.admin.transaction().execute((trx) => insertRows(trx, shape, rows(1, 3), insert)));
    expect(measured.result).toBe(3);
    const inserts = measured.statements.filter((statement) => /^\s*insert into/.test(statement));
    expect(inserts.every((statement) => (onCitus() ? / values /.test(statement) : /unnest/.test(statement)))).toBe(true);
  });
});

describe('copy', () => {
  it('cuts a batch into chunks of 1,000 rows, no empty one at the end', () => {
    expect([...copyChunks(shape.columns, rows(1, 2_000))].map((chunk) => chunk.split('\n').length - 1)).toEqual([1_000, 1_000]);
    expect([...copyChunks(shape.columns, [])]).toEqual([]);
  });

  it('quotes table and column names that hold a double quote', async () => {
    await database.admin.transaction().execute((trx) => copyInto(trx, 'odd"name', ['a"b'], ['x\n', 'y\n']));
    expect((await sql<{ value: string }>`select "a""b" as value from "odd""name" order by 1`.execute(database.admin)).rows.map((row) => row.value))
      .toEqual(['x', 'y']);
  });
});
