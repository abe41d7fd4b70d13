import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrator.js';
import { PIPELINE } from '../../src/etl/user-analytics/pipeline.js';
import { emptyDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { catchUp, expectedMetrics, insertActivities, insertEvents, loadedMetrics, seedTenant, succeeded } from './support.js';

const BEFORE = '0012_add_idempotency_keys';
const MIGRATION = '0013_add_etl_commit_order_and_quarantine';

let database: TestDatabase;

beforeAll(async () => {
  database = await emptyDatabase();
  await migrate(database, BEFORE);
});

async function columns(table: string) {
  const { rows } = await sql<{ name: string }>`
    select attname as name from pg_attribute where attrelid = ${table}::regclass and attnum > 0 and not attisdropped order by attnum`.execute(database.admin);
  return rows.map((row) => row.name);
}

describe(MIGRATION, () => {
  it('gives rows written before it the commit key 0 and later rows their transaction, so the first run counts both', async () => {
    const tenant = await seedTenant(database, 1);
    const user = tenant.userIds[0]!;
    await insertActivities(database, [{ tenantId: tenant.tenantId, userId: user, type: 'before_migration', at: '2025-09-01T00:00:00Z' }]);
    await migrate(database, MIGRATION);

    const { rows: [after] } = await sql<{ xid: string }>`
      with inserted as (
        insert into user_activity (tenant_id, user_id, activity_type, created_at) values (${tenant.tenantId}, ${user}, 'after_migration', '2025-09-01T01:00:00Z')
        returning ingest_xid
      ) select (ingest_xid = pg_current_xact_id())::text as xid from inserted`.execute(database.admin);
    expect(after!.xid).toBe('true');
    await insertEvents(database, [{ tenantId: tenant.tenantId, userId: user, name: 'after_migration', at: '2025-09-01T02:00:00Z' }]);
    const keys = await database.admin.selectFrom('user_activity').select(['activity_type', 'ingest_xid']).orderBy('id').execute();
    expect(keys[0]).toEqual({ activity_type: 'before_migration', ingest_xid: '0' });
    expect(BigInt(keys[1]!.ingest_xid)).toBeGreaterThan(0n);

    // The pipeline of today reads the schema of today.
    await migrate(database);
    expect(succeeded(await catchUp(database)).rowsRead).toBe(3);
    expect(await loadedMetrics(database, [tenant.tenantId])).toEqual(await expectedMetrics(database, [tenant.tenantId]));
  });

  it('refuses to roll back while loaded analytics depend on the commit keys, and rolls back once they are cleared', async () => {
    const tenant = await seedTenant(database, 1, 'Later');
    await insertEvents(database, [{ tenantId: tenant.tenantId, userId: null, name: 'future', at: '2999-01-01T00:00:00Z' }]);
    expect(await catchUp(database)).toMatchObject({ status: 'failed', quarantined: 1 });
    const analytics = ['report', 'metric', 'active_user_day', 'etl_quarantine', 'etl_run'] as const;
    // Every source row of both cases, read again from commit key 0 after the rollback.
    let rows = 3;
    if (onCitus()) {
      // On a cluster 0021 refuses first while any row is stamped with the worker that stored it (below
      // it, the row's xid would read as the coordinator's), analytics cleared or not. Past it, 0013's
      // own rule is met by a run loaded at 0020, over rows written there.
      await expect(migrate(database, BEFORE)).rejects.toMatchObject({
        code: 'IRREVERSIBLE_MIGRATION', message: expect.stringContaining('0021_stamp_ingest_origin cannot be undone: activity or event rows'),
      });
      for (const table of [...analytics, 'user_activity', 'event'] as const) await database.admin.deleteFrom(table).execute();
      await migrate(database, '0020_add_api_key_scopes');
      await database.admin.insertInto('etl_run').values({ pipeline: PIPELINE, status: 'succeeded', mode: 'incremental' }).execute();
      await insertEvents(database, [{ tenantId: tenant.tenantId, userId: null, name: 'future', at: '2999-01-01T00:00:00Z' }]);
      await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'at_0020', at: '2025-09-02T00:00:00Z' }]);
      rows = 1;
    }

    await expect(migrate(database, BEFORE)).rejects.toMatchObject({ code: 'IRREVERSIBLE_MIGRATION', message: expect.stringContaining(MIGRATION) });
    expect(await columns('user_activity')).toContain('ingest_xid');

    for (const table of analytics) await database.admin.deleteFrom(table).execute();
    await migrate(database, BEFORE);
    expect(await columns('user_activity')).not.toContain('ingest_xid');
    expect(await columns('event')).not.toContain('ingest_xid');
    expect(await columns('etl_run')).not.toContain('xid_to');
    const { rows: [quarantine] } = await sql<{ exists: boolean }>`select to_regclass('etl_quarantine') is not null as exists`.execute(database.admin);
    expect(quarantine!.exists).toBe(false);

    await migrate(database);
    const run = await catchUp(database);
    expect(run).toMatchObject({ status: 'failed', quarantined: 1 });
    expect(succeeded(await catchUp(database)).rowsRead).toBe(rows);
    expect(await loadedMetrics(database, [tenant.tenantId])).toEqual(onCitus() ? await expectedMetrics(database, [tenant.tenantId]) : []);
  });
});
