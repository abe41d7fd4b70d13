import { z } from 'zod';
import { id, text } from './common.js';

export type {
  ActiveUserDay, EtlQuarantine, EtlRun, Event, Metric, Report, UserActivity,
} from '../db/schema.generated.js';

const DAY_MS = 86_400_000;

/** No activity or event before this day is counted: older timestamps are refused at the edge. */
export const EARLIEST_DAY = '2000-01-01';
// Day arithmetic leaves the four-digit form outside these years (0000 - 7 days is "-000001-12…").
const LATEST_DAY = '2199-12-31';

/** A calendar day as YYYY-MM-DD (UTC), checked to exist (no 2024-02-30). */
export const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day as YYYY-MM-DD')
  .refine((value) => {
    // zod runs this check even when the pattern failed, so any string can arrive here.
    const date = new Date(`${value}T00:00:00Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(value);
  }, 'not a calendar day');

/** A day that bounds a query or a report: within the years day arithmetic keeps in YYYY-MM-DD. */
export const rangeDay = isoDay
  .refine((value) => !/^\d{4}-\d{2}-\d{2}$/.test(value) || (value >= EARLIEST_DAY && value <= LATEST_DAY),
    `must be between ${EARLIEST_DAY} and ${LATEST_DAY}`);

export function addDays(day: string, days: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
}

export function daysBetween(from: string, to: string): number {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
}

/** The Monday of the ISO week holding `day`. */
export function weekStart(day: string): string {
  const weekday = new Date(`${day}T00:00:00Z`).getUTCDay();
  return addDays(day, -((weekday + 6) % 7));
}

export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

// Additive daily counts. Distinct counts (DAU/WAU/MAU, retention) come from active_user_day.
export const metricNames = ['activities', 'events', 'new_users'] as const;
export type MetricName = (typeof metricNames)[number];
export const granularities = ['day', 'week', 'month'] as const;
export const reportKinds = ['weekly_activity', 'retention_cohort'] as const;
export type ReportKind = (typeof reportKinds)[number];

/** Days a source row may fall on: before 2000 or after tomorrow is a broken client clock, not a fact. */
export interface DayBounds {
  earliest: string;
  latest: string;
}

export function sourceRowSchema(bounds: DayBounds) {
  return z.strictObject({
    source: z.enum(['user_activity', 'event']),
    tenantId: id,
    id,
    xid: z.string().regex(/^\d+$/),
    userId: id.nullable(),
    name: text(200).min(1),
    day: isoDay
      .refine((day) => day >= bounds.earliest, `before ${bounds.earliest}`)
      .refine((day) => day <= bounds.latest, `after ${bounds.latest}`),
  });
}

/**
 * One change to one daily metric. Activity and event counts only grow; new_users may move a user
 * to an earlier first day (a late row), which takes one from the day they were counted on.
 */
export const metricDelta = z.strictObject({
  tenantId: id,
  name: z.enum(metricNames),
  dimension: text(200),
  day: isoDay,
  value: z.number().int().safe(),
}).refine((row) => row.name === 'new_users' || row.value > 0, { message: 'counts of rows are positive', path: ['value'] })
  .refine((row) => row.name !== 'new_users' || row.dimension === '', { message: 'new_users has no dimension', path: ['dimension'] });
export type MetricDelta = z.infer<typeof metricDelta>;

export const activeUserDayRow = z.strictObject({ tenantId: id, day: isoDay, userId: id });
export type ActiveUserDayRow = z.infer<typeof activeUserDayRow>;

/** from ≤ to, and a span the query can answer quickly. */
function rangeWithin(maxDays: number) {
  return (value: { from: string; to: string }, context: z.RefinementCtx) => {
    if (value.from > value.to) {
      context.addIssue({ code: 'custom', message: 'from must not be after to', path: ['from'] });
    } else if (daysBetween(value.from, value.to) >= maxDays) {
      context.addIssue({ code: 'custom', message: `the range may span at most ${maxDays} days`, path: ['to'] });
    }
  };
}

export const metricsQuery = z.strictObject({
  name: z.enum(metricNames),
  dimension: text(200).optional(),
  from: rangeDay,
  to: rangeDay,
  granularity: z.enum(granularities).default('day'),
}).superRefine(rangeWithin(3660));
export type MetricsQuery = z.output<typeof metricsQuery>;

export const activeUsersQuery = z.strictObject({ from: rangeDay, to: rangeDay }).superRefine(rangeWithin(366));
export type ActiveUsersQuery = z.output<typeof activeUsersQuery>;

export const MAX_RETENTION_WEEKS = 52;
export const retentionQuery = z.strictObject({
  from: rangeDay,
  weeks: z.coerce.number().int().min(1).max(MAX_RETENTION_WEEKS).default(8),
});
export type RetentionQuery = z.output<typeof retentionQuery>;

export const reportInput = z.strictObject({ kind: z.enum(reportKinds), from: rangeDay, to: rangeDay })
  // Widened to whole weeks, the range must still fit the longest retention table.
  .superRefine(rangeWithin(MAX_RETENTION_WEEKS * 7 - 6));
export type ReportInput = z.input<typeof reportInput>;

export const backfillInput = z.strictObject({ from: rangeDay, to: rangeDay, daysPerBatch: z.number().int().min(1).max(366).default(7) })
  .superRefine(rangeWithin(3660));
