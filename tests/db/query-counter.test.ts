import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { tenantOf, type TenantTx } from '../../src/db/tenant.js';
import { QueryCounter } from '../../src/db/query-counter.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

describe('QueryCounter', () => {
  it('counts every statement a database sends, and measure() returns those of one call with their text', async () => {
    const before = database.queries.count;
    const measured = await database.queries.measure(async () => {
      await sql`select 1`.execute(database.admin);
      await database.pool.query({ text: 'select 2' });
      return 'done';
    });
    expect(measured).toEqual({ result: 'done', queries: 2, statements: ['select 1', 'select 2'] });
    expect(database.queries.count).toBe(before + 2);
  });

  it('measures zero when nothing is sent, and stops recording after measure()', async () => {
    expect((await database.queries.measure(async () => 1)).queries).toBe(0);
    await sql`select 3`.execute(database.admin);
    expect(database.queries.statements).toEqual([]);
  });

  it('stops recording even when the measured call throws', async () => {
    const counter = new QueryCounter();
    await expect(counter.measure(async () => { counter.record('select 1'); throw new Error('boom'); })).rejects.toThrow('boom');
    counter.record('select 2');
    expect(counter.statements).toEqual(['select 1']);
    expect(counter.count).toBe(2);
  });
});

describe('tenantOf', () => {
  it('refuses a transaction that withTenant did not scope', async () => {
    await database.admin.transaction().execute(async (trx) => {
      expect(() => tenantOf(trx as TenantTx)).toThrow(expect.objectContaining({ code: 'INTERNAL' }));
    });
  });
});
