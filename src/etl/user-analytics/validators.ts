import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { z } from 'zod';
import type { DB } from '../../db/schema.generated.js';
import { StrataError, type ErrorDetail } from '../../errors.js';
import {
  activeUserDayRow, addDays, metricDelta, sourceRowSchema, utcDay, type DayBounds, type MetricDelta,
} from '../../models/analytics.js';
import type { SourceRow, SourceTotal } from './extractors.js';
import type { TransformOutput } from './transformers.js';

import { EARLIEST_DAY } from '../../models/analytics.js';
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

const MAX_ID = Number.MAX_SAFE_INTEGER;

/**
 * True for every row the source schema could refuse (and for a few it accepts): zod still decides,
 * but only over the rows this flags, so a window of valid rows never leaves the database. A name's
 * length as zod counts it (code points in zod 4, UTF-16 units before) never exceeds its UTF-8
 * length, hence octet_length, whichever way zod counts; text read
 * from PostgreSQL holds no NUL and no lone surrogate; days beyond the bounds include infinity, BC
 * and five-digit years, which the day pattern refuses. A property test keeps this a superset.
 */
export function suspectRow(bounds: DayBounds): RawBuilder<boolean> {
  return sql<boolean>`not (w.day between ${bounds.earliest}::date and ${bounds.latest}::date
    and w.tenant_id between 1 and ${MAX_ID} and w.id between 1 and ${MAX_ID}
    and (w.user_id is null or w.user_id between 1 and ${MAX_ID})
    and octet_length(w.name) between 1 and 200)`;
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

/** Per tenant and day, what the staged active user days hold. */
export interface StagedUserDays {
  tenantId: number;
  day: string;
  users: number;
}

/**
 * The staged active user days, per tenant and day, checked in SQL against activeUserDayRow (a
 * positive safe id each, a four-digit calendar day): the window's rows are too many to parse one by
 * one, and every one of them is checked here.
 */
export async function checkStagedUserDays(db: Kysely<DB>): Promise<StagedUserDays[]> {
  const { rows } = await sql<{ tenant_id: number; day: string; users: number; invalid: number; sample: string | null }>`
    select tenant_id, day, count(*) as users,
      count(*) filter (where not valid) as invalid, min(user_id::text) filter (where not valid) as sample
    from (select *, tenant_id between 1 and ${MAX_ID} and user_id between 1 and ${MAX_ID}
            and day between '0001-01-01' and '9999-12-31' as valid
          from etl_user_day) as staged
    group by tenant_id, day`.execute(db);
  const invalid = rows.filter((row) => row.invalid > 0);
  if (invalid.length) {
    fail(`${invalid.reduce((sum, row) => sum + row.invalid, 0)} output rows are not valid`, invalid.map((row) => ({
      path: `activeUserDays tenant ${row.tenant_id} day ${row.day}`, message: `${row.invalid} rows are not valid, among them user ${row.sample}`,
    })));
  }
  return rows.map((row) => ({ tenantId: row.tenant_id, day: String(row.day), users: row.users }));
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
  reconcileCounts(output.metrics, output.activeUserDays.map((row) => ({ tenantId: row.tenantId, day: row.day, users: 1 })), totals);
}

/** reconcile, with the active user days already counted per tenant and day (staged in SQL). */
export function reconcileCounts(metrics: readonly MetricDelta[], userDays: readonly StagedUserDays[], totals: readonly SourceTotal[]): void {
  const loaded = new Map<string, Tally>();
  const tally = (tenantId: number, day: string) => {
    const key = `${tenantId} ${day}`;
    let entry = loaded.get(key);
    if (!entry) loaded.set(key, entry = { activities: 0, events: 0, activeUsers: 0 });
    return entry;
  };
  for (const metric of metrics) {
    if (metric.name === 'activities') tally(metric.tenantId, metric.day).activities += metric.value;
    else if (metric.name === 'events') tally(metric.tenantId, metric.day).events += metric.value;
  }
  for (const row of userDays) tally(row.tenantId, row.day).activeUsers += row.users;

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
