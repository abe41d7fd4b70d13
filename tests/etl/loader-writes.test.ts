import { beforeAll, describe, expect, it } from 'vitest';
import type { SourceRow } from '../../src/etl/user-analytics/extractors.js';
import {
  addToMetrics, ChecksumTally, clearDays, finishRun, insertActiveUserDays, insertRun, quarantineRows, recountNewUsers, type RunRecord,
} from '../../src/etl/user-analytics/loaders.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

const none = { rows: 0, minId: 0, maxId: 0, idSum: '0' };

function record(overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    pipeline: `loader-writes-${Math.random().toString(36).slice(2)}`, mode: 'incremental', status: 'succeeded', windows: [],
    rowsRead: 0, checksums: { user_activity: none, event: none, quarantined: 0 }, startedAt: new Date(), ...overrides,
  };
}

async function runRow(id: number) {
  return database.admin.selectFrom('etl_run').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
}

async function windowsOf(runId: number) {
  return database.admin.selectFrom('etl_run_window').select(['node', 'xid_from', 'xid_to']).where('etl_run_id', '=', runId).orderBy('node').execute();
}

async function metricsOf(tenantId: number) {
  return database.admin.selectFrom('metric').select(['name', 'dimension', 'day', 'value', 'etl_run_id'])
    .where('tenant_id', '=', tenantId).orderBy('name').orderBy('day').execute();
}

describe('insertRun and finishRun', () => {
  it('a succeeded incremental run writes only its windows that moved, and is finished by finishRun', async () => {
    const windows = [{ node: 0, xidFrom: '100', xidTo: '250' }, { node: 1, xidFrom: '300', xidTo: '300' }];
    const runId = await insertRun(database.admin, record({ windows }));
    expect(await windowsOf(runId)).toEqual([{ node: 0, xid_from: '100', xid_to: '250' }]);
    expect((await runRow(runId)).finished_at).toBeNull();
    await finishRun(database.admin, runId, 7);
    const finished = await runRow(runId);
    expect(finished.rows_written).toBe(7);
    expect(finished.finished_at).toBeInstanceOf(Date);
  });

  it('a succeeded incremental run whose windows are all empty writes none', async () => {
    const runId = await insertRun(database.admin, record({ windows: [{ node: 0, xidFrom: '300', xidTo: '300' }] }));
    expect(await windowsOf(runId)).toEqual([]);
  });

  it('a failed run and a backfill move no watermark: no windows; a failed run is finished when written', async () => {
    const windows = [{ node: 0, xidFrom: '100', xidTo: '250' }];
    const failed = await insertRun(database.admin, record({ windows, status: 'failed', error: 'boom' }));
    expect(await windowsOf(failed)).toEqual([]);
    expect(await runRow(failed)).toMatchObject({ status: 'failed', error: 'boom', finished_at: expect.any(Date) });
    const backfill = await insertRun(database.admin, record({ windows, mode: 'backfill' }));
    expect(await windowsOf(backfill)).toEqual([]);
    expect(await runRow(backfill)).toMatchObject({ mode: 'backfill', error: null });
  });

  it('stores the id spans of both sources and the windows among the checksums', async () => {
    const windows = [{ node: 0, xidFrom: '5', xidTo: '9' }];
    const checksums = { user_activity: { rows: 2, minId: 11, maxId: 12, idSum: '23' }, event: { rows: 1, minId: 40, maxId: 40, idSum: '40' }, quarantined: 0 };
    const runId = await insertRun(database.admin, record({ windows, rowsRead: 3, checksums }));
    expect(await runRow(runId)).toMatchObject({
      activity_from: 11, activity_to: 12, event_from: 40, event_to: 40, rows_read: 3, checksums: { ...checksums, windows },
    });
  });
});

describe('ChecksumTally', () => {
  it('keeps the lowest and highest id whatever order the rows come in', () => {
    const row = (id: number): SourceRow => ({ source: 'user_activity', tenantId: 1, id, xid: '1', userId: null, name: 'login', day: '2025-01-01' });
    const tally = new ChecksumTally();
    tally.add([row(5), row(3), row(9), row(4)]);
    expect(tally.of('user_activity')).toEqual({ rows: 4, minId: 3, maxId: 9, idSum: '21' });
  });


  it('starts from the database\'s stats and reads a source with no rows as zeros', () => {
    const tally = ChecksumTally.fromStats({
      user_activity: { rows: 2, minId: 5, maxId: 9, idSum: 14n },
      event: { rows: 0, minId: null, maxId: null, idSum: 0n },
    });
    expect(tally.of('user_activity')).toEqual({ rows: 2, minId: 5, maxId: 9, idSum: '14' });
    expect(tally.of('event')).toEqual(none);
  });
});

describe('addToMetrics', () => {
  it('adds growth, takes away shrinkage, drops a row that falls to zero; a zero renames a counted day\'s run, a day never counted gets nothing', async () => {
    const tenant = await createTenant(database, 'Metrics');
    const first = await insertRun(database.admin, record());
    const change = (day: string, value: number) => ({ tenantId: tenant.id, name: 'new_users' as const, dimension: '', day, value });
    expect(await addToMetrics(database.admin, first, [change('2025-01-01', 2), change('2025-01-02', 1), change('2025-01-05', 4)])).toBe(3);
    const second = await insertRun(database.admin, record());
    const written = await addToMetrics(database.admin, second, [
      change('2025-01-01', -1), change('2025-01-02', -1), change('2025-01-03', 0), change('2025-01-04', 3), change('2025-01-05', 0),
    ]);
    expect(written).toBe(4);
    expect(await metricsOf(tenant.id)).toEqual([
      { name: 'new_users', dimension: '', day: '2025-01-01', value: 1, etl_run_id: second },
      { name: 'new_users', dimension: '', day: '2025-01-04', value: 3, etl_run_id: second },
      { name: 'new_users', dimension: '', day: '2025-01-05', value: 4, etl_run_id: second },
    ]);
  });
});

describe('statement batches', () => {
  it('writes a change list longer than one statement takes (20,000 rows) once, every row in one batch or the next', async () => {
    const tenant = await createTenant(database, 'Batches');
    const runId = await insertRun(database.admin, record());
    const changes = Array.from({ length: 20_001 }, (_, index) => ({
      tenantId: tenant.id, name: 'events' as const, dimension: `e${index}`, day: '2025-05-01', value: 1,
    }));
    expect(await addToMetrics(database.admin, runId, changes)).toBe(20_001);
    const { rows, total } = await database.admin.selectFrom('metric').where('tenant_id', '=', tenant.id)
      .select((eb) => [eb.fn.countAll<number>().as('rows'), eb.fn.sum<number>('value').as('total')]).executeTakeFirstOrThrow();
    expect({ rows: Number(rows), total: Number(total) }).toEqual({ rows: 20_001, total: 20_001 });
  });
  it('quarantines 20,000 refused rows, more than one statement\'s 65,535 parameters hold, each once', async () => {
    const tenant = await createTenant(database, 'Full batch');
    const runId = await insertRun(database.admin, record({ status: 'failed' }));
    const rejections = Array.from({ length: 20_000 }, (_, index) => ({
      row: { source: 'event' as const, tenantId: tenant.id, id: index + 1, xid: '1', userId: null, name: 'x', day: '2999-01-01' },
      reason: 'day: too late',
    }));
    expect(await quarantineRows(database.admin, runId, rejections)).toBe(20_000);
    const stored = await database.admin.selectFrom('etl_quarantine').where('tenant_id', '=', tenant.id)
      .select((eb) => eb.fn.countAll<number>().as('rows')).executeTakeFirstOrThrow();
    expect(Number(stored.rows)).toBe(20_000);
  });
});

describe('insertActiveUserDays', () => {
  it('counts only the user days it added; one already loaded keeps the run that first saw it', async () => {
    const tenant = await createTenant(database, 'Days');
    const user = await database.admin.insertInto('app_user').values({ tenant_id: tenant.id, email: 'days@x.io', username: 'days' })
      .returning('id').executeTakeFirstOrThrow();
    const first = await insertRun(database.admin, record());
    const row = (day: string) => ({ tenantId: tenant.id, day, userId: user.id });
    expect(await insertActiveUserDays(database.admin, first, [row('2025-02-01')])).toBe(1);
    const second = await insertRun(database.admin, record());
    expect(await insertActiveUserDays(database.admin, second, [row('2025-02-01'), row('2025-02-02')])).toBe(1);
    const days = await database.admin.selectFrom('active_user_day').select(['day', 'etl_run_id']).where('tenant_id', '=', tenant.id).orderBy('day').execute();
    expect(days).toEqual([{ day: '2025-02-01', etl_run_id: first }, { day: '2025-02-02', etl_run_id: second }]);
  });
});

describe('quarantineRows', () => {
  it('keeps the refused row without its source, which has a column of its own, once per source row', async () => {
    const tenant = await createTenant(database, 'Quarantine');
    const runId = await insertRun(database.admin, record({ status: 'failed' }));
    const row: SourceRow = { source: 'event', tenantId: tenant.id, id: 77, xid: '900', userId: null, name: 'clock_skew', day: '2999-01-01' };
    expect(await quarantineRows(database.admin, runId, [{ row, reason: 'day: too late' }])).toBe(1);
    expect(await quarantineRows(database.admin, runId, [{ row, reason: 'day: too late' }])).toBe(0);
    const stored = await database.admin.selectFrom('etl_quarantine').select(['source', 'source_id', 'reason', 'row_data'])
      .where('tenant_id', '=', tenant.id).execute();
    expect(stored).toEqual([{
      source: 'event', source_id: 77, reason: 'day: too late',
      row_data: { tenantId: tenant.id, id: 77, xid: '900', userId: null, name: 'clock_skew', day: '2999-01-01' },
    }]);
  });
});

describe('clearDays and recountNewUsers', () => {
  it('clears the days\' activity, event and user-day rows of every tenant, keeps new_users and other days, and names the tenants', async () => {
    const a = await createTenant(database, 'Clear A');
    const b = await createTenant(database, 'Clear B');
    const runId = await insertRun(database.admin, record());
    const metric = (tenantId: number, name: 'activities' | 'events' | 'new_users', day: string) => ({ tenantId, name, dimension: name === 'new_users' ? '' : 'x', day, value: 1 });
    await addToMetrics(database.admin, runId, [
      metric(a.id, 'activities', '2025-03-02'), metric(b.id, 'events', '2025-03-03'), metric(a.id, 'new_users', '2025-03-02'),
      metric(a.id, 'activities', '2025-03-09'),
    ]);
    const tenants = await clearDays(database.admin, '2025-03-01', '2025-03-07');
    expect([...tenants].sort((x, y) => x - y)).toEqual([a.id, b.id].sort((x, y) => x - y));
    expect((await metricsOf(a.id)).map(({ name, day }) => `${name} ${day}`)).toEqual(['activities 2025-03-09', 'new_users 2025-03-02']);
    expect(await metricsOf(b.id)).toEqual([]);
  });

  it('recounts nothing for no tenants, and new_users from the first active days for the tenants named', async () => {
    const runId = await insertRun(database.admin, record());
    expect(await recountNewUsers(database.admin, runId, [])).toBe(0);
    const tenant = await createTenant(database, 'Recount');
    const users = await database.admin.insertInto('app_user').values([
      { tenant_id: tenant.id, email: 'r1@x.io', username: 'r1' }, { tenant_id: tenant.id, email: 'r2@x.io', username: 'r2' },
    ]).returning('id').execute();
    await insertActiveUserDays(database.admin, runId, [
      { tenantId: tenant.id, day: '2025-04-01', userId: users[0]!.id }, { tenantId: tenant.id, day: '2025-04-03', userId: users[0]!.id },
      { tenantId: tenant.id, day: '2025-04-03', userId: users[1]!.id },
    ]);
    expect(await recountNewUsers(database.admin, runId, [tenant.id])).toBe(2);
    expect((await metricsOf(tenant.id)).map(({ day, value }) => [day, value])).toEqual([['2025-04-01', 1], ['2025-04-03', 1]]);
  });
});
