import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  COPY_THRESHOLD, copyChunks, copyField, copyInto, withRowSource, type BatchShape,
} from '../../src/db/copy.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
  await sql`create table copy_target (position int primary key, label text, amount bigint, document jsonb, at timestamptz, ref uuid)`
    .execute(database.admin);
});

interface Sample {
  position: number;
  label: string | null;
  amount: number | null;
  document: unknown;
  at: string | null;
  ref: string | null;
}

const shape: BatchShape<Sample> = {
  name: 'copy_sample',
  columns: [
    { name: 'position', type: 'bigint', value: (row) => row.position },
    { name: 'label', type: 'text', value: (row) => row.label },
    { name: 'amount', type: 'bigint', value: (row) => row.amount },
    { name: 'document', type: 'jsonb', value: (row) => (row.document === undefined ? null : JSON.stringify(row.document)) },
    { name: 'at', type: 'timestamptz', value: (row) => row.at },
    { name: 'ref', type: 'uuid', value: (row) => row.ref },
  ],
};

// Each string COPY's text format would misread unescaped: its delimiter, its row end, its escape and its NULL marker.
const awkward = ['tab\there', 'new\nline', 'carriage\rreturn', 'back\\slash', '\\N', '\\', '', ' ', 'Zoë · 東京 · 👩‍💻', '"quoted"', ',;|'];

function samples(count: number): Sample[] {
  return Array.from({ length: count }, (_, index) => ({
    position: index,
    label: index % 13 === 12 ? null : awkward[index % awkward.length]!,
    amount: index % 5 === 4 ? null : (index % 2 ? -1 : 1) * (Number.MAX_SAFE_INTEGER - index),
    document: index % 7 === 6 ? undefined : { text: awkward[(index + 3) % awkward.length], index, nested: [null, true, 1.5e-7] },
    at: index % 11 === 10 ? null : new Date(Date.UTC(2024, 1, 29, 12) + index).toISOString(),
    ref: index % 3 ? null : `0000${index.toString(16).padStart(4, '0')}-0000-4000-8000-000000000000`,
  }));
}

async function roundTrip(rows: Sample[], copyThreshold?: number): Promise<{ stored: Sample[]; statements: string[] }> {
  await sql`truncate copy_target`.execute(database.admin);
  const measured = await database.queries.measure(() => database.admin.transaction().execute((trx) => withRowSource(trx, shape, rows, (incoming) => sql`
    insert into copy_target (position, label, amount, document, at, ref)
    select incoming.position, incoming.label, incoming.amount, incoming.document, incoming.at, incoming.ref from ${incoming}`.execute(trx),
  { copyThreshold })));
  const { rows: stored } = await sql<Sample>`
    select position, label, amount, document, to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as at, ref::text as ref
    from copy_target order by position`.execute(database.admin);
  return { stored, statements: measured.statements };
}

const expected = (rows: Sample[]) => rows.map((row) => ({ ...row, document: row.document === undefined ? null : row.document }));

describe('copyField', () => {
  it('escapes exactly the characters COPY text reads specially, and writes NULL as \\N', () => {
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField('\\N')).toBe('\\\\N');
    expect(copyField('plain text, "quotes" and ;')).toBe('plain text, "quotes" and ;');
    expect(copyField(null)).toBe('\\N');
    expect(copyField(-42)).toBe('-42');
  });
});

describe('copyChunks', () => {
  it('yields the batch a thousand rows at a time, one line per row, columns in order', () => {
    const chunks = [...copyChunks(shape.columns, samples(2_500))];
    expect(chunks.map((chunk) => chunk.split('\n').length - 1)).toEqual([1_000, 1_000, 500]);
    expect(chunks[0]!.split('\n')[0]!.split('\t')).toHaveLength(shape.columns.length);
  });
});

describe('withRowSource', () => {
  it.each([
    ['unnest', COPY_THRESHOLD - 1, /unnest\(/i],
    ['COPY into a staging table', COPY_THRESHOLD, /^copy "copy_sample_staging"/i],
  ])('carries every value exactly, awkward text and NULLs included, through %s', async (_path, count, marker) => {
    const rows = samples(count);
    const { stored, statements } = await roundTrip(rows);
    expect(stored).toEqual(expected(rows));
    expect(statements.some((statement) => marker.test(statement.trim()))).toBe(true);
  });

  it('takes the COPY path from the threshold it is given', async () => {
    const { statements } = await roundTrip(samples(10), 10);
    expect(statements.some((statement) => /^copy /i.test(statement.trim()))).toBe(true);
  });

  it('stages twice in one transaction and leaves no staging table behind', async () => {
    await sql`truncate copy_target`.execute(database.admin);
    await database.admin.transaction().execute(async (trx) => {
      for (const offset of [0, 10_000]) {
        const rows = samples(COPY_THRESHOLD).map((row) => ({ ...row, position: row.position + offset }));
        await withRowSource(trx, shape, rows, (incoming) => sql`insert into copy_target (position) select incoming.position from ${incoming}`.execute(trx));
      }
      const { rows } = await sql<{ staging: string | null }>`select to_regclass('pg_temp.copy_sample_staging')::text as staging`.execute(trx);
      expect(rows[0]!.staging).toBeNull();
    });
    const { rows } = await sql<{ n: number }>`select count(*)::int as n from copy_target`.execute(database.admin);
    expect(rows[0]!.n).toBe(2 * COPY_THRESHOLD);
  });

  it('rolls the whole transaction back when COPY refuses a value, and reports PostgreSQL\'s error', async () => {
    await sql`truncate copy_target`.execute(database.admin);
    const rows = samples(COPY_THRESHOLD);
    rows[COPY_THRESHOLD - 1] = { ...rows[COPY_THRESHOLD - 1]!, ref: 'not-a-uuid' };
    await expect(database.admin.transaction().execute(async (trx) => {
      await sql`insert into copy_target (position) values (-1)`.execute(trx);
      await withRowSource(trx, shape, rows, (incoming) => sql`insert into copy_target (position) select incoming.position from ${incoming}`.execute(trx));
    })).rejects.toMatchObject({ code: '22P02' });
    const { rows: left } = await sql<{ n: number }>`select count(*)::int as n from copy_target`.execute(database.admin);
    expect(left[0]!.n).toBe(0);
    // The pool's connection came back usable: the failed COPY left no half-finished protocol state.
    expect((await sql<{ one: number }>`select 1 as one`.execute(database.admin)).rows).toEqual([{ one: 1 }]);
  });
});

describe('copyInto', () => {
  it('copies on the transaction\'s own connection: a temporary table of that session is visible to it', async () => {
    await database.admin.transaction().execute(async (trx) => {
      await sql`create temp table session_only (label text) on commit drop`.execute(trx);
      await copyInto(trx, 'session_only', ['label'], ['one\n', 'two\\tthree\n']);
      const { rows } = await sql<{ label: string }>`select label from session_only order by label`.execute(trx);
      expect(rows.map((row) => row.label)).toEqual(['one', 'two\tthree']);
    });
  });
});
