import type { Database } from '../db/database.js';
import type { Json } from '../db/schema.generated.js';
import { withTenant, type TenantTx } from '../db/tenant.js';
import {
  addDays, daysBetween, reportInput, reportKinds, utcDay, weekStart, type ReportInput,
} from '../models/analytics.js';
import { parseInput } from '../models/validation.js';
import { AnalyticsRepository } from '../repositories/analytics-repository.js';

/** Weeks of cohorts in the report generated each week. */
export const SCHEDULED_RETENTION_WEEKS = 8;

/**
 * Builds a report from the loaded analytics and stores it with the etl_run ids it was built from.
 * Periods are widened to whole Monday weeks: weekly_activity has one entry per week, and
 * retention_cohort one cohort per week with its retention in each later week of the period.
 */
export async function createReport(trx: TenantTx, input: ReportInput) {
  const { kind, from, to } = parseInput(reportInput, input);
  const analytics = new AnalyticsRepository(trx);
  const start = weekStart(from);
  if (kind === 'weekly_activity') {
    const summary = await analytics.weeklyActivity({ from, to });
    return analytics.createReport({
      kind, periodStart: start, periodEnd: addDays(weekStart(to), 6),
      body: { weeks: summary.rows } as unknown as Json, etlRunIds: summary.etlRunIds,
    });
  }
  const weeks = Math.ceil((daysBetween(start, to) + 1) / 7);
  const retention = await analytics.retention({ from: start, weeks });
  return analytics.createReport({
    kind, periodStart: start, periodEnd: addDays(start, 7 * weeks - 1),
    body: { weeks, cohorts: retention.rows } as unknown as Json, etlRunIds: retention.etlRunIds,
  });
}

/**
 * The reports of one finished week (default: last week) for every tenant with analytics in it:
 * its activity summary and the retention of the cohorts of the 8 weeks ending with it. A report
 * that already exists for the period is not made twice, so a repeated schedule is harmless.
 */
export async function generateWeeklyReports(database: Database, options: { week?: string; now?: Date } = {}) {
  const week = weekStart(options.week ?? addDays(utcDay(options.now ?? new Date()), -7));
  const end = addDays(week, 6);
  const tenants = await AnalyticsRepository.tenantsWithMetrics(database.admin, week, end);
  const periods = {
    weekly_activity: { from: week, to: end },
    retention_cohort: { from: addDays(week, -7 * (SCHEDULED_RETENTION_WEEKS - 1)), to: end },
  };
  let created = 0;
  for (const tenantId of tenants) {
    await withTenant(database, { tenantId }, async (trx) => {
      const analytics = new AnalyticsRepository(trx);
      for (const kind of reportKinds) {
        if (await analytics.findReport(kind, periods[kind].from, periods[kind].to) !== undefined) continue;
        await createReport(trx, { kind, ...periods[kind] });
        created += 1;
      }
    });
  }
  return { week, tenants: tenants.length, created };
}
