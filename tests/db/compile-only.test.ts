import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { compileOnlyKysely } from '../../src/db/compile-only.js';
import type { DB } from '../../src/db/schema.generated.js';
import { StrataError } from '../../src/errors.js';

describe('compileOnlyKysely', () => {
  it('hands every query it is asked to run to onQuery, compiled for PostgreSQL, and returns no rows', async () => {
    const seen: string[] = [];
    const db = compileOnlyKysely<DB>((query) => seen.push(`${query.sql} ${JSON.stringify(query.parameters)}`));
    expect(await db.selectFrom('tenant').select('id').where('slug', '=', 'acme').execute()).toEqual([]);
    await sql`select ${1}::int`.execute(db);
    const streamed = [];
    for await (const row of db.selectFrom('tenant').selectAll().stream()) streamed.push(row);
    expect(streamed).toEqual([]);
    expect(seen).toEqual([
      'select "id" from "tenant" where "slug" = $1 ["acme"]',
      'select $1::int [1]',
      'select * from "tenant" []',
    ]);
    await db.destroy();
  });

  it('refuses to run a query when onQuery throws, so a builder made with it can only be compiled', async () => {
    const db = compileOnlyKysely<DB>(() => {
      throw new StrataError('INTERNAL', 'not here');
    });
    const query = db.selectFrom('tenant').select('id');
    expect(query.compile().sql).toBe('select "id" from "tenant"');
    await expect(query.execute()).rejects.toMatchObject({ code: 'INTERNAL', message: 'not here' });
    await expect((async () => {
      for await (const row of query.stream()) return row;
    })()).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
