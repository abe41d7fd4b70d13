import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrator.js';
import { withTenant } from '../../src/db/tenant.js';
import { runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { constraintNamed, emptyDatabase, migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import {
  catchUp, expectedActiveUserDays, expectedMetrics, horizonPassed, insertActivities, lineageViolations, loadedActiveUserDays,
  loadedMetrics, seedTenant, succeeded, type SeededTenant,
} from './support.js';

// The foreign keys of active_user_day became statement-level triggers (0017); each rule they kept is
// here. On a Citus cluster 0018 gives the foreign keys back (shard-local there): the same rules, kept
// by the key itself, and a case whose mechanism differs says which one it checks in its name.
let database: TestDatabase;
const mode = onCitus() ? 'Citus: the foreign key' : 'single server: the 0017 trigger';

/**
 * A key's refusal as the client sees it. On a single server 0017's triggers name the key in the
 * constraint field; on Citus the key is checked on the shard, and the worker's refusal comes back
 * with its code and its message (naming the shard's copy of the key) but no constraint field.
 */
function keyRefusal(constraint: string) {
  return onCitus()
    ? { code: '23503', message: expect.stringMatching(new RegExp(`constraint "${constraint}_\\d+"`)) }
    : { code: '23503', constraint };
}
let runId: number;

beforeAll(async () => {
  database = await migratedDatabase();
  runId = await newRun();
});

const setBased = { perRowLimit: 0 };

async function newRun(): Promise<number> {
  const run = await database.admin.insertInto('etl_run').values({ pipeline: 'keys-test' }).returning('id').executeTakeFirstOrThrow();
  return run.id;
}

function day(tenantId: number, userId: number, run = runId, on = '2025-07-01') {
  return { tenant_id: tenantId, day: on, user_id: userId, etl_run_id: run };
}

async function daysOf(tenantId: number, userId?: number) {
  let query = database.admin.selectFrom('active_user_day').select(['day', 'user_id']).where('tenant_id', '=', tenantId);
  if (userId !== undefined) query = query.where('user_id', '=', userId);
  return query.orderBy('day').orderBy('user_id').execute();
}

async function expectExact(tenantIds: number[]) {
  expect(await loadedMetrics(database, tenantIds)).toEqual(await expectedMetrics(database, tenantIds));
  expect(await loadedActiveUserDays(database, tenantIds)).toEqual(await expectedActiveUserDays(database, tenantIds));
}

async function activeOn(tenant: SeededTenant, days: string[]) {
  await insertActivities(database, tenant.userIds.flatMap((userId) => days.map((on) => ({
    tenantId: tenant.tenantId, userId, type: 'login', at: `${on}T10:00:00Z`,
  }))));
}

async function until(condition: () => Promise<boolean>) {
  while (!(await condition())) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function userDeleteWaitsForLock(): Promise<boolean> {
  // On Citus the delete waits on the worker holding the user's shard, where it runs as the shard's
  // statement: citus_lock_waits reports the waits of every node.
  const { rows: [waiting] } = await (onCitus()
    ? sql<{ waiting: boolean }>`select exists (select 1 from citus_lock_waits where blocked_statement ilike '%delete from%app_user%') as waiting`
    : sql<{ waiting: boolean }>`
    select exists (select 1 from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'
      and query ilike 'delete from "app_user"%') as waiting`).execute(database.admin);
  return waiting!.waiting;
}

describe('active_user_day keys', () => {
  it('refuses a whole statement when one of its days names a missing user, another tenant\'s user or a missing run', async () => {
    const a = await seedTenant(database, 1, 'A');
    const b = await seedTenant(database, 1, 'B');
    const own = day(a.tenantId, a.userIds[0]!);
    for (const [stranger, constraint] of [
      [day(a.tenantId, 2_000_000_000), 'active_user_day_user_exists'],
      [day(a.tenantId, b.userIds[0]!), 'active_user_day_user_exists'],
      [day(a.tenantId, a.userIds[0]!, 2_000_000_000, '2025-07-02'), 'active_user_day_run_exists'],
    ] as const) {
      await expect(database.admin.insertInto('active_user_day').values([own, stranger]).execute(), constraint)
        .rejects.toMatchObject(keyRefusal(constraint));
    }
    expect(await daysOf(a.tenantId)).toEqual([]);
    await database.admin.insertInto('active_user_day').values(own).execute();
    expect(await daysOf(a.tenantId)).toEqual([{ day: '2025-07-01', user_id: a.userIds[0] }]);
  });

  it('checks the days a tenant writes itself, as the application role that may not lock runs', async () => {
    const a = await seedTenant(database, 1, 'A');
    const b = await seedTenant(database, 1, 'B');
    await withTenant(database, { tenantId: a.tenantId }, (trx) => trx.insertInto('active_user_day').values(day(a.tenantId, a.userIds[0]!)).execute());
    await expect(withTenant(database, { tenantId: a.tenantId }, (trx) => trx.insertInto('active_user_day')
      .values(day(a.tenantId, b.userIds[0]!, runId, '2025-07-02')).execute()))
      .rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION', details: [{ path: 'userId' }], cause: { constraint: constraintNamed('active_user_day_user_exists') } });
    expect(await daysOf(a.tenantId)).toHaveLength(1);
  });

  it('refuses an update that points a day at a missing user or run', async () => {
    const tenant = await seedTenant(database, 1);
    await database.admin.insertInto('active_user_day').values(day(tenant.tenantId, tenant.userIds[0]!)).execute();
    const own = database.admin.updateTable('active_user_day').where('tenant_id', '=', tenant.tenantId);
    await expect(own.set({ user_id: 2_000_000_000 }).execute()).rejects.toMatchObject(keyRefusal('active_user_day_user_exists'));
    await expect(own.set({ etl_run_id: 2_000_000_000 }).execute()).rejects.toMatchObject(keyRefusal('active_user_day_run_exists'));
  });

  it('deletes a user\'s active days with the user, and a tenant\'s with the tenant, leaving everyone else\'s', async () => {
    const a = await seedTenant(database, 2, 'A');
    const b = await seedTenant(database, 1, 'B');
    const [leaving, staying] = a.userIds as [number, number];
    await database.admin.insertInto('active_user_day').values([
      day(a.tenantId, leaving), day(a.tenantId, leaving, runId, '2025-07-02'), day(a.tenantId, staying), day(b.tenantId, b.userIds[0]!),
    ]).execute();

    await withTenant(database, { tenantId: a.tenantId }, (trx) => trx.deleteFrom('app_user').where('id', '=', leaving).execute());
    expect(await daysOf(a.tenantId)).toEqual([{ day: '2025-07-01', user_id: staying }]);
    await database.admin.deleteFrom('tenant').where('id', '=', a.tenantId).execute();
    expect(await daysOf(a.tenantId)).toEqual([]);
    expect(await daysOf(b.tenantId)).toHaveLength(1);
  });

  it.each(['repeatable read', 'serializable'] as const)(`leaves no day of a user deleted in a %s transaction (${mode}: ${onCitus()
    ? 'its cascade reads the latest rows, whatever the snapshot' : 'refuses it, since its snapshot could miss days, and changes nothing'})`, async (level) => {
    const tenant = await seedTenant(database, 1);
    const [userId] = tenant.userIds as [number];
    await database.admin.insertInto('active_user_day').values(day(tenant.tenantId, userId)).execute();
    if (onCitus()) {
      await database.admin.transaction().setIsolationLevel(level).execute((trx) =>
        trx.deleteFrom('app_user').where('tenant_id', '=', tenant.tenantId).where('id', '=', userId).execute());
      expect(await daysOf(tenant.tenantId, userId)).toEqual([]);
      return;
    }
    await expect(database.admin.transaction().setIsolationLevel(level).execute((trx) =>
      trx.deleteFrom('app_user').where('tenant_id', '=', tenant.tenantId).where('id', '=', userId).execute()))
      .rejects.toMatchObject({ code: '0A000', message: 'users are deleted in READ COMMITTED transactions only' });
    expect(await daysOf(tenant.tenantId, userId)).toHaveLength(1);
    expect(await database.admin.selectFrom('app_user').select('id').where('id', '=', userId).execute()).toEqual([{ id: userId }]);
  });

  it(`refuses to change the key of a user that active days name (${onCitus()
    ? 'Citus: refuses to renumber any user, a volatile default in an UPDATE' : 'single server: the 0017 trigger, and one without days changes'})`, async () => {
    const tenant = await seedTenant(database, 2);
    const [named, unnamed] = tenant.userIds as [number, number];
    await database.admin.insertInto('active_user_day').values(day(tenant.tenantId, named)).execute();
    const renumber = (userId: number) => sql`update app_user set id = default where tenant_id = ${tenant.tenantId} and id = ${userId}`;
    if (onCitus()) {
      // The id is GENERATED ALWAYS, so DEFAULT is the only value it can be changed to, which Citus refuses.
      for (const userId of [named, unnamed]) {
        await expect(renumber(userId).execute(database.admin)).rejects.toMatchObject({ code: '0A000', message: expect.stringContaining('must not be VOLATILE') });
      }
      expect(await database.admin.selectFrom('app_user').select('id').where('tenant_id', '=', tenant.tenantId).orderBy('id').execute())
        .toEqual([{ id: named }, { id: unnamed }].sort((a, b) => a.id - b.id));
      expect(await daysOf(tenant.tenantId)).toEqual([{ day: '2025-07-01', user_id: named }]);
      return;
    }
    await expect(renumber(named).execute(database.admin)).rejects.toMatchObject(keyRefusal('active_user_day_user_exists'));
    await renumber(unnamed).execute(database.admin);
    expect(await daysOf(tenant.tenantId)).toEqual([{ day: '2025-07-01', user_id: named }]);
  });

  it(`refuses to delete or renumber a run that active days name, and deletes one that none name (${mode}${onCitus()
    ? '; renumbering any run is refused, a volatile default in an UPDATE' : ''})`, async () => {
    const tenant = await seedTenant(database, 1);
    const [named, unnamed] = [await newRun(), await newRun()];
    await database.admin.insertInto('active_user_day').values(day(tenant.tenantId, tenant.userIds[0]!, named)).execute();
    await expect(database.admin.deleteFrom('etl_run').where('id', '=', named).execute())
      .rejects.toMatchObject(keyRefusal('active_user_day_run_exists'));
    await expect(sql`update etl_run set id = default where id = ${named}`.execute(database.admin))
      .rejects.toMatchObject(onCitus() ? { code: '0A000', message: expect.stringContaining('must not be VOLATILE') } : keyRefusal('active_user_day_run_exists'));
    await database.admin.deleteFrom('etl_run').where('id', '=', unnamed).execute();
    expect(await database.admin.selectFrom('etl_run').select('id').where('id', 'in', [named, unnamed]).execute()).toEqual([{ id: named }]);
  });

  it('makes a user delete that meets a loading run wait for its commit, then takes the days it loaded', async () => {
    const tenant = await seedTenant(database, 2);
    const [leaving, staying] = tenant.userIds as [number, number];
    await activeOn(tenant, ['2025-08-01', '2025-08-02']);
    await horizonPassed(database);

    let deletion: Promise<unknown> | undefined;
    const run = runPipeline(database, { ...setBased, hooks: { duringLoad: async () => {
      deletion = database.admin.deleteFrom('app_user').where('tenant_id', '=', tenant.tenantId).where('id', '=', leaving).execute();
      // Had the run not locked the user, the delete would end here and miss the days not yet committed.
      await Promise.race([until(userDeleteWaitsForLock), deletion]);
    } } });
    succeeded(await run);
    await deletion;

    expect(await daysOf(tenant.tenantId, leaving)).toEqual([]);
    expect(await daysOf(tenant.tenantId, staying)).toHaveLength(2);
  });

  it('fails a run, loading nothing, when a user it loads is deleted after its snapshot; the next run is exact', async () => {
    const tenant = await seedTenant(database, 2);
    const [leaving] = tenant.userIds as [number, number];
    await activeOn(tenant, ['2025-09-01']);
    await horizonPassed(database);

    const deleteUser = async () => {
      await database.admin.deleteFrom('app_user').where('tenant_id', '=', tenant.tenantId).where('id', '=', leaving).execute();
    };
    // The user is gone before the load locks it: the run's snapshot still sees the user, the lock cannot.
    // Citus sends the loaded days to the shards as a copy, and reports the worker's refusal with the
    // copy's own code (XX000) around the same message.
    await expect(runPipeline(database, { ...setBased, hooks: { afterValidate: deleteUser } }))
      .rejects.toMatchObject(onCitus() ? { message: expect.stringContaining('could not serialize access') } : { code: '40001' });
    expect(await daysOf(tenant.tenantId)).toEqual([]);

    succeeded(await catchUp(database, setBased));
    await expectExact([tenant.tenantId]);
    const { userDays } = await lineageViolations(database);
    expect(userDays.filter((row) => row.tenant_id === tenant.tenantId)).toEqual([]);
  });
});

describe('0017_check_active_user_day_keys_per_statement', () => {
  it('rolls back with active days present, giving back the foreign keys they satisfy, and migrates forward again', async () => {
    const fresh = await emptyDatabase();
    await migrate(fresh);
    const tenant = await seedTenant(fresh, 1);
    const run = await fresh.admin.insertInto('etl_run').values({ pipeline: 'keys-test' }).returning('id').executeTakeFirstOrThrow();
    await fresh.admin.insertInto('active_user_day').values(day(tenant.tenantId, tenant.userIds[0]!, run.id)).execute();
    const foreignKeys = async () => (await sql<{ name: string }>`
      select conname as name from pg_constraint where conrelid = 'active_user_day'::regclass and contype = 'f' order by 1`
      .execute(fresh.admin)).rows.map((row) => row.name);

    await migrate(fresh, '0016_add_id_to_activity_indexes');
    expect(await foreignKeys()).toEqual(['active_user_day_etl_run_id_fkey', 'active_user_day_tenant_id_user_id_fkey']);
    await migrate(fresh);
    // On Citus 0018 turns the triggers back into foreign keys, under the names the triggers reported.
    expect(await foreignKeys()).toEqual(onCitus() ? ['active_user_day_run_exists', 'active_user_day_user_exists'] : []);
    expect(await fresh.admin.selectFrom('active_user_day').select('user_id').execute()).toEqual([{ user_id: tenant.userIds[0] }]);
    // On a cluster every migration runs on three servers, and 0018 converts 22 tables each way: minutes, not seconds.
  }, onCitus() ? 300_000 : undefined);
});
