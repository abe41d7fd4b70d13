import fc from 'fast-check';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { backfill, runPipeline, type RunOutput } from '../../src/etl/user-analytics/pipeline.js';
import { checkStagedUserDays, dayBounds, SourceRowValidator, suspectRow } from '../../src/etl/user-analytics/validators.js';
import { addDays } from '../../src/models/analytics.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import {
  catchUp, expectedActiveUserDays, expectedMetrics, horizonPassed, insertActivities, insertEvents, lineageViolations,
  loadedActiveUserDays, loadedMetrics, seedTenant, succeeded,
} from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

const setBased = { perRowLimit: 0 };

async function expectExact(tenantIds: number[]) {
  expect(await loadedMetrics(database, tenantIds)).toEqual(await expectedMetrics(database, tenantIds));
  expect(await loadedActiveUserDays(database, tenantIds)).toEqual(await expectedActiveUserDays(database, tenantIds));
}

describe('suspectRow', () => {
  const now = new Date('2025-03-10T12:00:00Z');
  const bounds = dayBounds(now);
  const validator = new SourceRowValidator(bounds);

  const anyId = fc.oneof(
    fc.constantFrom('-1', '0', '1', '9007199254740991', '9007199254740992', '9223372036854775807'),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String),
  );
  const anyName = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 220 }),
    // Around the 200 limit in every UTF-8 width: zod counts code points, octet_length bytes.
    fc.tuple(fc.constantFrom('', 'a', 'é', '中', '😀'), fc.integer({ min: 190, max: 210 })).map(([unit, count]) => unit.repeat(count)),
  ).map((value) => value.replaceAll('\u0000', ''));
  const anyDay = fc.oneof(
    fc.constantFrom('infinity', '-infinity', '0044-03-15 BC', '1999-12-31', '2000-01-01', bounds.latest, addDays(bounds.latest, 1), '9999-12-31', '10000-01-01'),
    fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T00:00:00Z'), noInvalidDate: true }).map((date) => date.toISOString().slice(0, 10)),
  );
  const anyRow = fc.record({ tenantId: anyId, id: anyId, userId: fc.option(anyId, { nil: null }), name: anyName, day: anyDay });
  const plausibleId = fc.integer({ min: 1, max: 100_000 }).map(String);
  const plausibleRow = fc.record({
    tenantId: plausibleId, id: plausibleId, userId: fc.option(plausibleId, { nil: null }),
    name: fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map((value) => value.replaceAll('\u0000', '') || 'x'),
    day: fc.integer({ min: 0, max: 400 }).map((back) => addDays(bounds.latest, -back)),
  });
  // A valid row with one field at fault, so that each rule is met alone; sometimes any row at all.
  const row = fc.oneof(
    {
      arbitrary: fc.tuple(plausibleRow, fc.constantFrom('tenantId', 'id', 'userId', 'name', 'day'), anyRow)
        .map(([valid, field, any]) => ({ ...valid, [field]: any[field] })),
      weight: 4,
    },
    anyRow,
  );

  it('flags every row the source schema refuses, as the database holds it', async () => {
    // Rows zod refused, by the field it named: a validator refusing nothing would pass every run below.
    const fields = ['tenantId', 'id', 'userId', 'name', 'day'] as const;
    const refusedBy = Object.fromEntries(fields.map((field) => [field, 0])) as Record<(typeof fields)[number], number>;
    let refused = 0;
    await fc.assert(fc.asyncProperty(fc.array(row, { minLength: 20, maxLength: 40 }), async (generated) => {
      const values = sql.join(generated.map((value) => sql`(${value.tenantId}::bigint, ${value.id}::bigint, ${value.userId}::bigint, ${value.name}::text, ${value.day}::date)`));
      const { rows } = await sql<{ tenant_id: number; id: number; user_id: number | null; name: string; day: string; flagged: boolean }>`
        select w.tenant_id, w.id, w.user_id, w.name, w.day, ${suspectRow(bounds)} as flagged
        from (values ${values}) as w(tenant_id, id, user_id, name, day)`.execute(database.admin);
      for (const stored of rows) {
        const { rejected } = validator.check([{
          source: 'event', tenantId: stored.tenant_id, id: stored.id, xid: '1', userId: stored.user_id, name: stored.name, day: String(stored.day),
        }]);
        if (rejected.length) expect({ reason: rejected[0]!.reason, flagged: stored.flagged }).toEqual({ reason: rejected[0]!.reason, flagged: true });
        if (rejected.length) {
          refused += 1;
          // describe() joins the issues as `path: message; path: message`.
          for (const field of fields) if (new RegExp(`(^|; )${field}: `).test(rejected[0]!.reason)) refusedBy[field] += 1;
        }
      }
    }), { numRuns: 60 });
    expect(refused).toBeGreaterThan(0);
    // Each rule met at least once: a predicate that missed any one of them would have had its chance to show.
    expect(Object.entries(refusedBy).filter(([, count]) => count === 0).map(([field]) => field)).toEqual([]);
  });

  it('passes an ordinary row, and flags a wide name that zod then accepts', async () => {
    const wide = 'é'.repeat(150);
    const { rows } = await sql<{ name: string; flagged: boolean }>`
      select w.name, ${suspectRow(bounds)} as flagged
      from (values (1::bigint, 2::bigint, 3::bigint, 'login'::text, '2025-03-10'::date), (1, 3, 3, ${wide}, '2025-03-10'))
        as w(tenant_id, id, user_id, name, day)`.execute(database.admin);
    expect(rows.map((row) => row.flagged)).toEqual([false, true]);
    expect(validator.check([{ source: 'event', tenantId: 1, id: 3, xid: '1', userId: 3, name: rows[1]!.name, day: '2025-03-10' }]).rejected).toEqual([]);
  });
});

describe('the set-based path', () => {
  it('is taken by a window above perRowLimit; a window at or below it goes row by row', async () => {
    const tenant = await seedTenant(database, 3);
    const seen: Array<RunOutput['activeUserDays']> = [];
    const options = { perRowLimit: 2, hooks: { afterTransform: (output: RunOutput) => { seen.push(output.activeUserDays); } } };
    await insertActivities(database, tenant.userIds.map((userId) => ({ tenantId: tenant.tenantId, userId, type: 'login', at: '2025-02-03T10:00:00Z' })));
    succeeded(await catchUp(database, options));
    await insertActivities(database, tenant.userIds.slice(0, 2).map((userId) => ({ tenantId: tenant.tenantId, userId, type: 'view', at: '2025-02-04T10:00:00Z' })));
    succeeded(await catchUp(database, options));
    expect(seen[0]).toBe('staged');
    expect(seen[1]).toHaveLength(2);
    await expectExact([tenant.tenantId]);
  });

  it('counts a row the SQL predicate flags but zod accepts, and sums its id into the checksums', async () => {
    const tenant = await seedTenant(database, 2);
    // 150 characters, 150 UTF-16 units, 300 bytes: valid, and flagged by octet_length.
    const wide = 'é'.repeat(150);
    await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-02-10T10:00:00Z' }]);
    await insertEvents(database, [
      { tenantId: tenant.tenantId, userId: tenant.userIds[1]!, name: wide, at: '2025-02-10T11:00:00Z' },
      { tenantId: tenant.tenantId, userId: null, name: 'ping', at: '2025-02-10T12:00:00Z' },
    ]);
    const run = succeeded(await catchUp(database, setBased));
    expect(run.rowsRead).toBe(3);
    await expectExact([tenant.tenantId]);
    expect((await loadedMetrics(database, [tenant.tenantId])).find((metric) => metric.dimension === wide)?.value).toBe(1);
    const stored = await database.admin.selectFrom('etl_run').select('checksums').where('id', '=', run.runId).executeTakeFirstOrThrow();
    expect(stored.checksums).toMatchObject({ user_activity: { rows: 1 }, event: { rows: 2 }, quarantined: 0 });
    const { checksums } = await lineageViolations(database);
    expect(checksums).toEqual([]);
  });

  it('quarantines a flagged row zod refuses, loads nothing of the window, and records the clean rows\' checksums', async () => {
    const tenant = await seedTenant(database, 2);
    await insertActivities(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[0]!, type: 'login', at: '2025-02-12T10:00:00Z' }]);
    await insertEvents(database, [{ tenantId: tenant.tenantId, userId: tenant.userIds[1]!, name: 'skewed', at: '2999-01-01T00:00:00Z' }]);
    await horizonPassed(database);
    const failed = await runPipeline(database, setBased);
    expect(failed).toMatchObject({ status: 'failed', rowsRead: 2, quarantined: 1 });
    expect(await loadedMetrics(database, [tenant.tenantId])).toEqual([]);
    const run = await database.admin.selectFrom('etl_run').select('checksums').where('id', '=', failed.status === 'failed' ? failed.runId : -1).executeTakeFirstOrThrow();
    expect(run.checksums).toMatchObject({ user_activity: { rows: 1 }, event: { rows: 0 }, quarantined: 1 });
    succeeded(await catchUp(database, setBased));
    await expectExact([tenant.tenantId]);
  });

  it('stops a backfill at a batch with rows it must quarantine, loading nothing of that batch', async () => {
    const own = await seedTenant(database, 1, 'Skewed');
    await insertActivities(database, [{ tenantId: own.tenantId, userId: own.userIds[0]!, type: 'login', at: '2024-12-02T00:00:00Z' }]);
    succeeded(await catchUp(database, setBased));
    const before = await loadedMetrics(database, [own.tenantId]);
    // Seen from a clock set to 2020, a row of 2024 lies in the future.
    await expect(backfill(database, { ...setBased, from: '2024-12-01', to: '2024-12-03', now: new Date('2020-01-01T00:00:00Z') }))
      .rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringContaining('1 source rows quarantined') });
    expect(await loadedMetrics(database, [own.tenantId])).toEqual(before);
  });
});

describe('checkStagedUserDays', () => {
  async function staged(values: string) {
    return database.admin.transaction().execute(async (trx) => {
      await sql.raw(`create temporary table etl_user_day on commit drop as
        select * from (values ${values}) as v(tenant_id, day, user_id)`).execute(trx);
      return checkStagedUserDays(trx);
    });
  }

  it('counts the staged users of each tenant and day', async () => {
    const counted = await staged(`(1::bigint, '2025-01-01'::date, 5::bigint), (1, '2025-01-01', 6), (2, '2025-01-01', 5)`);
    expect(counted.sort((a, b) => a.tenantId - b.tenantId)).toEqual([
      { tenantId: 1, day: '2025-01-01', users: 2 },
      { tenantId: 2, day: '2025-01-01', users: 1 },
    ]);
  });

  it('refuses rows that break activeUserDayRow and names where they are', async () => {
    await expect(staged(`(1::bigint, '2025-01-01'::date, 5::bigint), (0, '2025-01-01', 6), (1, '2025-01-02', -3), (2, 'infinity', 7)`))
      .rejects.toMatchObject({
        code: 'INTERNAL',
        message: '3 output rows are not valid',
        details: expect.arrayContaining([
          { path: 'activeUserDays tenant 0 day 2025-01-01', message: '1 rows are not valid, among them user 6' },
          { path: 'activeUserDays tenant 1 day 2025-01-02', message: '1 rows are not valid, among them user -3' },
          { path: 'activeUserDays tenant 2 day infinity', message: '1 rows are not valid, among them user 7' },
        ]),
      });
  });
});
