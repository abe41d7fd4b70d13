import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { APP_ROLE } from '../../src/db/database.js';
import { TenantRead } from '../../src/db/tenant-read.js';
import { runsOnCluster, scopeStatement, scopeTransaction, tenantOf, withTenant, type TenantTx } from '../../src/db/tenant.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';

let database: TestDatabase;
let tenantId: number;

beforeAll(async () => {
  database = await migratedDatabase();
  tenantId = (await createTenant(database, 'Scope')).id;
});

const userCount = async () => (await sql<{ n: number }>`select count(*)::int as n from app_user where tenant_id = ${tenantId}`.execute(database.admin)).rows[0]!.n;

describe('scopeStatement', () => {
  it('switches to the application role unless told not to, and turns on Citus propagation only on a cluster', () => {
    expect(scopeStatement({ tenantId: 5, actorId: null })).toBe(`set local role ${APP_ROLE}; set local app.tenant_id = '5'; set local app.actor_id = ''`);
    expect(scopeStatement({ tenantId: 5, actorId: 7 }, { role: false, cluster: true }))
      .toBe("set local citus.propagate_set_commands = 'local'; set local app.tenant_id = '5'; set local app.actor_id = '7'");
  });
});

describe('scopeTransaction', () => {
  it('runs as the application role, or keeps the admin\'s role with keepRole; sets the cluster-only setting only on a cluster', async () => {
    const read = (keepRole: boolean) => database.admin.transaction().execute(async (trx) => {
      const scoped = await scopeTransaction(trx, { tenantId }, keepRole ? { keepRole } : undefined);
      const { rows: [row] } = await sql<{ role: string; tenant: string; citus: string | null }>`
        select current_user as role, current_setting('app.tenant_id') as tenant,
          current_setting('citus.propagate_set_commands', true) as citus`.execute(scoped);
      return { ...row!, tenantOf: tenantOf(scoped) };
    });
    const scoped = await read(false);
    expect(scoped).toMatchObject({ role: APP_ROLE, tenant: String(tenantId), tenantOf: tenantId });
    // On a cluster migration 0018 sets it for the whole database; on one server nothing sets it.
    expect(scoped.citus === 'local').toBe(onCitus());
    expect((await read(true)).role).not.toBe(APP_ROLE);
  });
});

describe('withTenant', () => {
  it('refuses a context without a positive integer tenant with VALIDATION_FAILED, naming the field', async () => {
    await expect(withTenant(database, { tenantId: 0 }, async () => 1)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED', message: 'a tenant context needs a positive integer tenantId',
      details: [{ path: 'tenantId', message: expect.any(String) }],
    });
  });

  it('runs nothing for a request already abandoned: CLIENT_CLOSED_REQUEST without a query', async () => {
    const controller = new AbortController();
    controller.abort();
    let ran = false;
    const { queries } = await database.queries.measure(() => withTenant(database, { tenantId }, async () => {
      ran = true;
    }, { signal: controller.signal }).catch((error: unknown) => error)).then(async (measured) => {
      expect(measured.result).toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
      return measured;
    });
    expect([ran, queries]).toEqual([false, 0]);
  });

  it('rolls back the work of a request abandoned before its commit, with CLIENT_CLOSED_REQUEST', async () => {
    const controller = new AbortController();
    const before = await userCount();
    await expect(withTenant(database, { tenantId }, async (trx) => {
      await sql`insert into app_user (tenant_id, email, username) values (${tenantId}, 'gone@example.com', 'gone')`.execute(trx);
      controller.abort();
    }, { signal: controller.signal })).rejects.toMatchObject({ code: 'CLIENT_CLOSED_REQUEST' });
    expect(await userCount()).toBe(before);
  });

  it('takes the connection from the ingest pool when asked, else from the default pool', async () => {
    const application = (pool?: 'ingest') => withTenant(database, { tenantId }, async (trx) =>
      (await sql<{ name: string }>`select current_setting('application_name') as name`.execute(trx)).rows[0]!.name, pool ? { pool } : {});
    expect(await application('ingest')).toMatch(/-ingest$/);
    expect(await application()).not.toMatch(/-ingest$/);
  });

  it('tells whether its transaction runs on a Citus cluster', async () => {
    expect(await withTenant(database, { tenantId }, async (trx) => runsOnCluster(trx))).toBe(onCitus());
  });
});

describe('tenantOf', () => {
  it('refuses a transaction that no tenant scope opened, with INTERNAL', async () => {
    await database.admin.transaction().execute(async (trx) => {
      expect(() => tenantOf(trx as unknown as TenantTx)).toThrow(expect.objectContaining({
        code: 'INTERNAL', message: 'a tenant-scoped transaction was used outside withTenant',
      }));
    });
  });
});

describe('TenantRead parameters', () => {
  const echo = new TenantRead((trx, value: number | string | boolean | bigint) =>
    trx.selectNoFrom((eb) => [eb.val(value).as('value'), eb.val('').as('empty')]));

  it('passes null, numbers, bigints, booleans and strings, an empty string included, as their values', async () => {
    const values = await Promise.all(([7, 'text', true, 12n, null, undefined] as never[]).map(async (value) => (await echo.run(database, { tenantId }, value))[0]));
    expect(values).toEqual([
      { value: '7', empty: '' }, { value: 'text', empty: '' }, { value: 'true', empty: '' }, { value: '12', empty: '' }, { value: null, empty: '' },
      { value: null, empty: '' },
    ]);
  });

  it('refuses a value it cannot write as a literal, with INTERNAL, before any query', async () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY, { a: 1 }]) {
      const measured = await database.queries.measure(() => echo.run(database, { tenantId }, value as never).catch((error: unknown) => error));
      expect([measured.result, measured.queries]).toEqual([expect.objectContaining({
        code: 'INTERNAL', message: expect.stringMatching(/^a TenantRead takes numbers, strings and booleans as parameters, not (number|object)$/),
      }), 0]);
    }
  });

  it('refuses to run a query built for it outside of it', async () => {
    let builder: TenantTx | undefined;
    const capture = new TenantRead((trx) => {
      builder = trx;
      return trx.selectNoFrom((eb) => eb.val(1).as('one'));
    });
    await capture.run(database, { tenantId });
    await expect(builder!.selectNoFrom((eb) => eb.val(1).as('one')).execute()).rejects.toMatchObject({
      code: 'INTERNAL', message: 'a query built for a TenantRead was executed directly',
    });
  });
});
