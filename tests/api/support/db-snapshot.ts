import { sql } from 'kysely';
import { expect } from 'vitest';
import type { Database } from '../../../src/db/database.js';

export type Snapshot = Record<string, { rows: number; checksum: string }>;

// Authentication refreshes this usage hint (at most once a minute per key); it is not tenant data.
const volatileColumns: Record<string, string[]> = { api_key: ['last_used_at'] };

/** A row count and an md5 over every row's text, per table in public: equal snapshots mean equal data. */
export async function snapshot(database: Database): Promise<Snapshot> {
  const columns = await sql<{ table_name: string; column_name: string }>`
    select c.table_name, c.column_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name
    where c.table_schema = 'public' and t.table_type = 'BASE TABLE'
    order by c.table_name, c.ordinal_position`.execute(database.admin);
  const byTable = new Map<string, string[]>();
  for (const { table_name: table, column_name: column } of columns.rows) {
    if (volatileColumns[table]?.includes(column)) continue;
    byTable.set(table, [...(byTable.get(table) ?? []), column]);
  }
  const result: Snapshot = {};
  for (const [table, names] of byTable) {
    const { rows } = await sql<{ rows: number; checksum: string }>`
      select count(*)::int as rows, md5(coalesce(string_agg(t::text, ',' order by t::text), '')) as checksum
      from (select ${sql.join(names.map((name) => sql.ref(name)))} from ${sql.table(table)}) t`.execute(database.admin);
    result[table] = rows[0]!;
  }
  return result;
}

/** Runs fn and asserts that no table of the database changed while it ran. */
export async function expectUnchanged<T>(database: Database, fn: () => Promise<T>): Promise<T> {
  const before = await snapshot(database);
  const result = await fn();
  expect(await snapshot(database)).toEqual(before);
  return result;
}
