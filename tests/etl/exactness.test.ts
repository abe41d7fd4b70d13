import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { addDays, weekStart } from '../../src/models/analytics.js';
import { AnalyticsRepository } from '../../src/repositories/analytics-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import type { RunOptions } from '../../src/etl/user-analytics/pipeline.js';
import {
  catchUp, expectedActiveUserDays, expectedActiveUsers, expectedMetrics, expectedRetention, insertActivities, insertEvents,
  lineageViolations, loadedActiveUserDays, loadedMetrics, paths, seedTenant,
} from './support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

const FIRST_DAY = '2025-01-06';
const DAYS = 70;

const at = fc.record({ day: fc.integer({ min: 0, max: DAYS - 1 }), hour: fc.integer({ min: 0, max: 23 }) })
  .map(({ day, hour }) => `${addDays(FIRST_DAY, day)}T${String(hour).padStart(2, '0')}:30:00Z`);
const activity = fc.record({ tenant: fc.nat(1), user: fc.nat(4), type: fc.constantFrom('login', 'view', 'buy'), at });
const event = fc.record({ tenant: fc.nat(1), user: fc.option(fc.nat(4), { nil: null }), name: fc.constantFrom('signup', 'page_view'), at });
// Each batch is ingested, then a run follows; later batches carry rows for earlier days (late rows).
const batches = fc.array(fc.record({ activities: fc.array(activity, { maxLength: 20 }), events: fc.array(event, { maxLength: 8 }) }), { minLength: 1, maxLength: 3 });

function sumByPeriod(rows: Array<{ name: string; dimension: string; day: string; value: number }>, name: string, period: (day: string) => string) {
  const sums = new Map<string, number>();
  for (const row of rows.filter((metric) => metric.name === name)) {
    const key = `${period(row.day)}|${row.dimension}`;
    sums.set(key, (sums.get(key) ?? 0) + row.value);
  }
  return [...sums].map(([key, value]) => ({ period: key.split('|')[0], dimension: key.split('|')[1], value }))
    .sort((x, y) => (x.period! + x.dimension!).localeCompare(y.period! + y.dimension!));
}

type Batches = typeof batches extends fc.Arbitrary<infer T> ? T : never;

/** Ingests each batch and runs the pipeline after it, then checks every loaded answer against the raw rows. */
async function loadAndCompare(ingested: Batches, runOptions: (batch: number) => RunOptions) {
  const tenants = [await seedTenant(database, 5, 'P0'), await seedTenant(database, 5, 'P1')];
  const ids = tenants.map((tenant) => tenant.tenantId);
  for (const [index, batch] of ingested.entries()) {
    await insertActivities(database, batch.activities.map((row) => ({
      tenantId: tenants[row.tenant]!.tenantId, userId: tenants[row.tenant]!.userIds[row.user]!, type: row.type, at: row.at,
    })));
    await insertEvents(database, batch.events.map((row) => ({
      tenantId: tenants[row.tenant]!.tenantId, userId: row.user === null ? null : tenants[row.tenant]!.userIds[row.user]!, name: row.name, at: row.at,
    })));
    await catchUp(database, runOptions(index));
  }
  const metrics = await expectedMetrics(database, ids);
  expect(await loadedMetrics(database, ids)).toEqual(metrics);
  expect(await loadedActiveUserDays(database, ids)).toEqual(await expectedActiveUserDays(database, ids));

  const last = addDays(FIRST_DAY, DAYS - 1);
  const weeks = Math.ceil(DAYS / 7);
  for (const tenant of tenants) {
    const own = metrics.filter((metric) => metric.tenant_id === tenant.tenantId);
    await withTenant(database, { tenantId: tenant.tenantId }, async (trx) => {
      const analytics = new AnalyticsRepository(trx);
      expect((await analytics.activeUsers({ from: FIRST_DAY, to: last })).rows)
        .toEqual(await expectedActiveUsers(database, tenant.tenantId, FIRST_DAY, last));

      const retention = (await analytics.retention({ from: FIRST_DAY, weeks })).rows;
      const expected = await expectedRetention(database, tenant.tenantId, FIRST_DAY, weeks);
      const cells = retention.flatMap((cohort) => cohort.retained.map((users, offset) => ({ cohort: cohort.cohort, week_offset: offset, users })))
        .filter((cell) => cell.users > 0);
      expect(cells).toEqual(expected);
      expect(retention.map((cohort) => cohort.size)).toEqual(retention.map((cohort) => cohort.retained[0]));

      for (const name of ['activities', 'events', 'new_users'] as const) {
        expect((await analytics.metricSeries({ name, from: FIRST_DAY, to: last, granularity: 'week' })).rows)
          .toEqual(sumByPeriod(own, name, weekStart));
        expect((await analytics.metricSeries({ name, from: FIRST_DAY, to: last, granularity: 'month' })).rows)
          .toEqual(sumByPeriod(own, name, (day) => `${day.slice(0, 7)}-01`));
      }
    });
  }
}

async function expectLineage() {
  const lineage = await lineageViolations(database);
  expect({ metrics: lineage.metrics, userDays: lineage.userDays, checksums: lineage.checksums }).toEqual({ metrics: [], userDays: [], checksums: [] });
}

describe('the loaded analytics of generated data', () => {
  it('equal a straight SQL computation over the raw rows: metrics, DAU/WAU/MAU, retention and rollups by week and month', async () => {
    // Tiny chunks, so that keyset paging across chunk boundaries is exercised too.
    await fc.assert(fc.asyncProperty(batches, fc.integer({ min: 1, max: 7 }), async (ingested, chunkSize) => {
      await loadAndCompare(ingested, () => ({ chunkSize }));
    }), { numRuns: 12 });
    await expectLineage();
  });

  it('are the same whichever path each run takes: rows through Node, or counted and staged in SQL', async () => {
    const runPaths = fc.array(fc.constantFrom(...paths.map(([, options]) => options)), { minLength: 3, maxLength: 3 });
    await fc.assert(fc.asyncProperty(batches, runPaths, async (ingested, chosen) => {
      await loadAndCompare(ingested, (batch) => chosen[batch]!);
    }), { numRuns: 12 });
    await expectLineage();
  });
});
