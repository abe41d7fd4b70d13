import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../src/db/database.js';
import type { Compilable } from 'kysely';
import { tenantOf, withTenant, type TenantContext, type TenantTx } from '../../src/db/tenant.js';
import { TenantRead } from '../../src/db/tenant-read.js';
import { StrataError } from '../../src/errors.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';

let database: TestDatabase;
// One connection, so every read and check below meets the same server session.
let single: Database;
let tenantA: number;
let tenantB: number;
let userA: number;

beforeAll(async () => {
  database = await migratedDatabase();
  single = openDatabase(database.url, { maxConnections: 1 });
  atFileEnd(() => single.close());
  tenantA = (await createTenant(database, 'Reader A')).id;
  tenantB = (await createTenant(database, 'Reader B')).id;
  userA = (await createUser(database, tenantA, 'o\'brien\\@example.com')).id;
});

const profileRead = new TenantRead((trx, userId: number) => new UserRepository(trx).profileQuery(userId));
const profileOf = (tenantId: number, userId: number) => profileRead.run(single, { tenantId }, userId);

/** A read without arguments, built for one call. */
const readOnce = <R>(on: Database, context: TenantContext, build: (trx: TenantTx) => Compilable<R>) => new TenantRead(build).run(on, context);

describe('TenantRead: the round trip', () => {
  it.runIf(!onCitus())('reads in one round trip, preparing the statement only on the first call of a connection (single server)', async () => {
    const first = await single.queries.measure(() => profileOf(tenantA, userA));
    const second = await single.queries.measure(() => profileOf(tenantA, userA));
    expect(first.result).toHaveLength(1);
    expect(second.result).toEqual(first.result);
    expect([first.queries, second.queries]).toEqual([1, 1]);
    expect(first.statements[0]).toMatch(/; prepare strata_r_\w+ as select/);
    expect(second.statements[0]).not.toMatch(/prepare/);
    const { rows } = await sql<{ name: string }>`select name from pg_prepared_statements where name like 'strata_r_%'`.execute(single.admin);
    expect(rows).toHaveLength(1);
  });

  it.runIf(onCitus())('on Citus, sends the scope in a message of its own, then the statement: Citus replays a SET LOCAL as its whole message', async () => {
    const first = await single.queries.measure(() => profileOf(tenantA, userA));
    const second = await single.queries.measure(() => profileOf(tenantA, userA));
    expect(second.result).toEqual(first.result);
    expect([first.queries, second.queries]).toEqual([2, 2]);
    expect(first.statements[0]).toMatch(
      /^begin; set local citus\.propagate_set_commands = 'local'; set local role strata_app; set local app\.tenant_id = '\d+'; set local app\.actor_id = ''$/);
    expect(first.statements[1]).toMatch(/^prepare strata_r_\w+ as select/);
    expect(second.statements[1]).toMatch(/^execute strata_r_\w+/);
  });

  it('answers as getUserProfile in a tenant transaction does', async () => {
    const [row] = await profileOf(tenantA, userA);
    const expected = await withTenant(database, { tenantId: tenantA }, (trx) => new UserRepository(trx).getUserProfile(userA));
    expect(UserRepository.toUserProfile(row, userA)).toEqual(expected);
  });

  it('shares a connection with the same statement prepared by executePrepared: their names never collide (42P05)', async () => {
    for (let round = 0; round < 2; round += 1) {
      const expected = await withTenant(single, { tenantId: tenantA }, (trx) => new UserRepository(trx).getUserProfile(userA));
      const [row] = await profileOf(tenantA, userA);
      expect(UserRepository.toUserProfile(row, userA)).toEqual(expected);
    }
    const { rows } = await sql<{ kinds: number }>`select count(distinct left(name, 9))::int as kinds from pg_prepared_statements
      where statement like '%user_settings%'`.execute(single.admin);
    expect(rows[0]!.kinds).toBe(2);
  });

  it('sees only its tenant: another tenant\'s user is not there', async () => {
    expect(await profileOf(tenantB, userA)).toEqual([]);
    expect(() => UserRepository.toUserProfile(undefined, userA)).toThrow(expect.objectContaining({ code: 'NOT_FOUND' }));
  });

  it('leaves the connection as it found it: no role, no tenant', async () => {
    await profileOf(tenantA, userA);
    const { rows } = await sql<{ role: string; login: string; tenant: string | null }>`
      select current_user as role, session_user as login, nullif(current_setting('app.tenant_id', true), '') as tenant`.execute(single.admin);
    expect(rows[0]!.role).not.toBe('strata_app');
    expect(rows[0]).toEqual({ role: rows[0]!.login, login: rows[0]!.login, tenant: null });
  });

  it('passes strings as escaped literals: quotes and backslashes arrive unchanged', async () => {
    const email = 'o\'brien\\@example.com';
    const rows = await readOnce(single, { tenantId: tenantA }, (trx) => trx.selectFrom('app_user')
      .select(['id', 'email']).where('tenant_id', '=', tenantOf(trx)).where('email', '=', email).where('is_active', '=', true));
    expect(rows).toEqual([{ id: userA, email }]);
  });

  it('rolls back and replaces the connection when the statement fails; the next read works', async () => {
    const failing = () => readOnce(single, { tenantId: tenantA }, (trx) => trx.selectFrom('app_user')
      .select(sql<number>`1 / ${0}::int`.as('boom')).where('tenant_id', '=', tenantOf(trx)));
    await expect(failing()).rejects.toMatchObject({ code: '22012' });
    // PREPARE outlives the failed transaction: on a reused connection the retry would meet 42P05.
    await expect(failing()).rejects.toMatchObject({ code: '22012' });
    expect(await profileOf(tenantA, userA)).toHaveLength(1);
  });

  it('refuses parameters it cannot write as a literal, and a builder run outside it', async () => {
    await expect(readOnce(single, { tenantId: tenantA }, (trx) => trx.selectFrom('app_user').select('id')
      .where('created_at', '<', new Date()))).rejects.toMatchObject({ code: 'INTERNAL' });
    let builder: TenantTx | undefined;
    await readOnce(single, { tenantId: tenantA }, (trx) => {
      builder = trx;
      return trx.selectFrom('tenant').select('id');
    });
    await expect(builder!.selectFrom('app_user').selectAll().execute()).rejects.toBeInstanceOf(StrataError);
  });

  it('refuses a context without a valid tenant before touching the database', async () => {
    const { queries } = await single.queries.measure(() =>
      expect(readOnce(single, { tenantId: 0 }, (trx) => trx.selectFrom('tenant').select('id'))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' }));
    expect(queries).toBe(0);
  });

  it('fails with DATABASE_UNAVAILABLE, caused by the connection error, when the server cannot be reached', async () => {
    const unreachable = openDatabase('postgres://root@127.0.0.1:1/strata', { maxConnections: 1 });
    try {
      await expect(readOnce(unreachable, { tenantId: tenantA }, (trx) => trx.selectFrom('tenant').select('id')))
        .rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE', cause: { code: 'ECONNREFUSED' } });
    } finally {
      await unreachable.close();
    }
  });
});

describe('TenantRead: compiled once', () => {
  it.runIf(!onCitus())('builds its query once and then reads in one round trip per call, for any tenant and argument (single server)', async () => {
    let builds = 0;
    const read = new TenantRead((trx, userId: number) => {
      builds += 1;
      return new UserRepository(trx).profileQuery(userId);
    });
    const first = await single.queries.measure(() => read.run(single, { tenantId: tenantA }, userA));
    const again = await single.queries.measure(() => read.run(single, { tenantId: tenantA }, userA));
    expect(builds).toBe(1);
    expect([first.queries, again.queries]).toEqual([1, 1]);
    expect(again.result).toEqual(await profileOf(tenantA, userA));
    expect(again.result).toHaveLength(1);
    expect(await read.run(single, { tenantId: tenantB }, userA)).toEqual([]);
    const userB = (await createUser(database, tenantB, 'reader-b@example.com')).id;
    const rowsB = await read.run(single, { tenantId: tenantB }, userB);
    expect(rowsB).toHaveLength(1);
    expect(rowsB[0]).toMatchObject({ tenant_id: tenantB, id: userB, email: 'reader-b@example.com' });
    expect(await read.run(single, { tenantId: tenantA }, userA + 1000)).toEqual([]);
  });

  it('substitutes string arguments as escaped literals and keeps the query\'s own constants', async () => {
    const byEmail = new TenantRead((trx, email: string) => trx.selectFrom('app_user').select(['id', 'email'])
      .where('tenant_id', '=', tenantOf(trx)).where('email', '=', email).where('is_active', '=', true));
    expect(await byEmail.run(single, { tenantId: tenantA }, 'o\'brien\\@example.com')).toEqual([{ id: userA, email: 'o\'brien\\@example.com' }]);
    expect(await byEmail.run(single, { tenantId: tenantA }, '\'; drop table app_user; --')).toEqual([]);
    // Arguments land where the query uses them, not in the order they are declared.
    const byIdAndEmail = new TenantRead((trx, id: number, email: string) => trx.selectFrom('app_user').select('id')
      .where('email', '=', email).where('tenant_id', '=', tenantOf(trx)).where('id', '=', id));
    expect(await byIdAndEmail.run(single, { tenantId: tenantA }, userA, 'o\'brien\\@example.com')).toEqual([{ id: userA }]);
  });

  it('refuses, before touching the database, an argument it cannot substitute', async () => {
    const transformed = new TenantRead((trx, prefix: string) => trx.selectFrom('app_user').select('id')
      .where('tenant_id', '=', tenantOf(trx)).where('email', 'like', `${prefix}%`));
    const inlined = new TenantRead((trx, limit: number) => trx.selectFrom('app_user').select('id')
      .where('tenant_id', '=', tenantOf(trx)).limit(sql.lit(limit)));
    const unused = new TenantRead((trx, _userId: number) => trx.selectFrom('app_user').select('id').where('tenant_id', '=', tenantOf(trx)));
    const { queries } = await single.queries.measure(async () => {
      await expect(transformed.run(single, { tenantId: tenantA }, 'o')).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/transformed/) });
      await expect(inlined.run(single, { tenantId: tenantA }, 5)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/statement's text/) });
      await expect(unused.run(single, { tenantId: tenantA }, userA)).rejects.toMatchObject({ code: 'INTERNAL', message: expect.stringMatching(/argument 0/) });
      await expect(new TenantRead((trx) => trx.selectFrom('tenant').select('id')).run(single, { tenantId: 0 }))
        .rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    });
    expect(queries).toBe(0);
  });
});

describe('withTenant', () => {
  it('rolls back when the scope fails after BEGIN: the pooled connection serves the next transaction', async () => {
    // eslint-disable-next-line @typescript-eslint/unbound-method -- kept to put the prototype back
    const query = pg.Client.prototype.query;
    let broken = false;
    // The scope travels with BEGIN in one batch; make that batch fail once, after BEGIN has run.
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      if (!broken && typeof args[0] === 'string' && /^begin; .*set local role/.test(args[0])) {
        broken = true;
        args[0] = 'begin; select 1 / 0';
      }
      return (query as (...rest: unknown[]) => unknown).apply(this, args);
    } as typeof query;
    // Opened after the patch, so that its one connection sends through it.
    const one = openDatabase(database.url, { maxConnections: 1 });
    try {
      await expect(withTenant(one, { tenantId: tenantB }, async () => 'unreachable')).rejects.toMatchObject({ code: '22012' });
      expect(broken).toBe(true);
      const tenants = await withTenant(one, { tenantId: tenantB }, (trx) => trx.selectFrom('tenant').select('id').execute());
      expect(tenants).toEqual([{ id: tenantB }]);
    } finally {
      pg.Client.prototype.query = query;
      await one.close();
    }
  });
});
