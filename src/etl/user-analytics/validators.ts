import type { z } from 'zod';
import { StrataError, type ErrorDetail } from '../../errors.js';
import {
  activeUserDayRow, addDays, metricDelta, sourceRowSchema, utcDay, type DayBounds,
} from '../../models/analytics.js';
import type { SourceRow, SourceTotal } from './extractors.js';
import type { TransformOutput } from './transformers.js';

export const EARLIEST_DAY = '2000-01-01';
const MAX_DETAILS = 20;

/** A day after tomorrow (UTC) cannot have happened yet: the client's clock is wrong. */
export function dayBounds(now: Date): DayBounds {
  return { earliest: EARLIEST_DAY, latest: addDays(utcDay(now), 1) };
}

export interface Rejection {
  row: SourceRow;
  reason: string;
}

function describe(error: z.ZodError): string {
  return error.issues.map((issue) => `${issue.path.join('.') || '(row)'}: ${issue.message}`).join('; ');
}

/** Splits source rows into those the metrics may count and those to quarantine, with the reason. */
export class SourceRowValidator {
  private readonly schema: ReturnType<typeof sourceRowSchema>;

  constructor(bounds: DayBounds) {
    this.schema = sourceRowSchema(bounds);
  }

  check(rows: readonly SourceRow[]): { valid: SourceRow[]; rejected: Rejection[] } {
    const valid: SourceRow[] = [];
    const rejected: Rejection[] = [];
    for (const row of rows) {
      const parsed = this.schema.safeParse(row);
      if (parsed.success) valid.push(row);
      else rejected.push({ row, reason: describe(parsed.error) });
    }
    return { valid, rejected };
  }
}

function fail(message: string, details: ErrorDetail[]): never {
  throw new StrataError('INTERNAL', message, details.slice(0, MAX_DETAILS));
}

/** Every output row against its schema; a failure here is a pipeline fault, so the run loads nothing. */
export function validateOutput(output: TransformOutput): void {
  const details: ErrorDetail[] = [];
  output.metrics.forEach((row, index) => {
    const parsed = metricDelta.safeParse(row);
    if (!parsed.success) details.push({ path: `metrics.${index}`, message: describe(parsed.error) });
  });
  output.activeUserDays.forEach((row, index) => {
    const parsed = activeUserDayRow.safeParse(row);
    if (!parsed.success) details.push({ path: `activeUserDays.${index}`, message: describe(parsed.error) });
  });
  if (details.length) fail(`${details.length} output rows are not valid`, details);
}

interface Tally {
  activities: number;
  events: number;
  activeUsers: number;
}

/**
 * The counts about to be loaded, per tenant and day, must equal what the database counts in the
 * same snapshot over the same rows: no row dropped, none counted twice, no user-day missing.
 */
export function reconcile(output: TransformOutput, totals: readonly SourceTotal[]): void {
  const loaded = new Map<string, Tally>();
  const tally = (tenantId: number, day: string) => {
    const key = `${tenantId} ${day}`;
    let entry = loaded.get(key);
    if (!entry) loaded.set(key, entry = { activities: 0, events: 0, activeUsers: 0 });
    return entry;
  };
  for (const metric of output.metrics) {
    if (metric.name === 'activities') tally(metric.tenantId, metric.day).activities += metric.value;
    else if (metric.name === 'events') tally(metric.tenantId, metric.day).events += metric.value;
  }
  for (const row of output.activeUserDays) tally(row.tenantId, row.day).activeUsers += 1;

  const details: ErrorDetail[] = [];
  const compare = (key: string, load: Tally, source: Tally) => {
    for (const field of ['activities', 'events', 'activeUsers'] as const) {
      if (load[field] !== source[field]) {
        details.push({ path: `tenant ${key.replace(' ', ' day ')}`, message: `${field}: loading ${load[field]}, source has ${source[field]}` });
      }
    }
  };
  const none: Tally = { activities: 0, events: 0, activeUsers: 0 };
  for (const total of totals) {
    const key = `${total.tenantId} ${total.day}`;
    compare(key, loaded.get(key) ?? none, total);
    loaded.delete(key);
  }
  for (const [key, load] of loaded) compare(key, load, none);
  if (details.length) fail(`reconciliation failed for ${details.length} counts`, details);
}
