import { z } from 'zod';
import type { JsonObject } from '../db/schema.generated.js';
import { EARLIEST_DAY } from './analytics.js';
import { apiSchema } from './api-spelling.js';
import { MAX_BATCH_ROWS, id, isStorableString } from './common.js';
import { parseInput } from './validation.js';

export type { UserActivity } from '../db/schema.generated.js';

const MAX_DEPTH = 32;

// jsonb refuses NUL and lone surrogates anywhere, and JSON has no undefined, NaN, Date or class instance.

function isStorableJson(value: unknown, depth: number): boolean {
  if (value === null || typeof value === 'boolean') return true;
  if (typeof value === 'string') return isStorableString(value);
  // JSON.parse rounds an integer beyond ±(2^53 - 1) to a neighbouring double (9007199254740993 becomes
  // ...992), which jsonb would then store as the client's number. The parsed value is enough to tell:
  // every integer literal within the range parses exactly, and every literal beyond it parses to a
  // double beyond it. Fractions such as 1.5 are approximate by nature and stay accepted.
  if (typeof value === 'number') return Math.abs(value) <= Number.MAX_SAFE_INTEGER;
  if (depth >= MAX_DEPTH || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.every((item) => isStorableJson(item, depth + 1));
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return false;
  // for…in rather than Object.entries: no array per object, and a plain object has no inherited keys.
  for (const key in value) {
    if (!isStorableString(key) || !isStorableJson((value as Record<string, unknown>)[key], depth + 1)) return false;
  }
  return true;
}

/**
 * A JSON object jsonb can store. Hand-written rather than z.json(): on 100,000 activities z.json()
 * took ~700 ms and this check ~110 ms, and validation sits on the bulk ingest path.
 */
export const jsonbObject = z.custom<JsonObject>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value) && isStorableJson(value, 0),
  `must be a JSON object (numbers within ±(2^53 - 1), no NUL characters, at most ${MAX_DEPTH} levels deep)`,
);

/** Mirrors the user_activity_type_format check, so a bad type fails here with the field named. */
export const activityType = z.string().regex(/^[A-Za-z0-9_.:-]{1,50}$/, '1 to 50 letters, digits or _ . : -');

// zod's ISO pattern already refuses days a month does not have (02-30, 02-29 of common years);
// timestamptz also refuses year 0, which the pattern lets through.
/** A timestamp as JSON carries it (ISO 8601 with an offset); `timestamp` also takes a Date. */
export const isoTimestamp = z.iso.datetime({ offset: true })
  // Each refusal aborts the checks after it, so a bad timestamp is reported once, for its first fault.
  .refine((iso) => !iso.startsWith('0000'), { message: 'must be a real date, in year 1 or later', abort: true })
  // PostgreSQL refuses UTC offsets beyond ±15:59, which the ISO pattern lets through.
  .refine((iso) => !/[+-](1[6-9]|2\d):?\d{2}$/.test(iso), { message: 'the UTC offset must be within ±15:59', abort: true });

/**
 * When an activity or event happened, within what the analytics pipeline counts: from EARLIEST_DAY to
 * a day past the server clock. Anything outside would be quarantined later and fail the run for
 * every tenant, so it is refused here, to the one client that sent it.
 */
export const occurredAt = isoTimestamp.refine((iso) => {
  const at = Date.parse(iso);
  // A string that is not a timestamp at all is reported once, by isoTimestamp.
  return Number.isNaN(at) || (at >= Date.parse(`${EARLIEST_DAY}T00:00:00Z`) && at <= Date.now() + 86_400_000);
}, `must be between ${EARLIEST_DAY} and a day past the server clock`);

// The string first: it is what every JSON body carries, and a union pays for each branch that fails.
export const timestamp = z.union([isoTimestamp, z.date().transform((date) => date.toISOString()).pipe(isoTimestamp)]);

/** occurredAt for code as well as clients: a Date is held to the same bounds as an ISO string. */
export const occurredTimestamp = z.union([occurredAt, z.date().transform((date) => date.toISOString()).pipe(occurredAt)]);

export const activityInput = z.strictObject({
  user_id: id,
  activity_type: activityType,
  metadata: jsonbObject.optional(),
  // Left out, the database clock sets it; given, it records when a late-arriving activity happened.
  created_at: occurredTimestamp.optional(),
});
export type ActivityInput = z.input<typeof activityInput>;
export type ParsedActivity = z.output<typeof activityInput>;

/** The API's names where they are not the camelCase of the model's. */
export const activityApiNames = { activity_type: 'type' } as const;
/** An activity as clients send it: activityInput itself, under the API's names. */
export const activityApiInput = apiSchema(activityInput, { names: activityApiNames });

/** A validated batch: the brand lets the ingest path take it without validating a second time. */
export const activityBatch = z.array(activityInput).brand<'ActivityBatch'>();
export type ActivityBatch = z.output<typeof activityBatch>;
/** A request's batch: rows parsed by activityInput (through its API spelling) earn the same brand. */
export const activityApiBatch = z.array(activityApiInput).min(1).max(MAX_BATCH_ROWS).brand<'ActivityBatch'>();

/** Validates activities from code (the CLI, scripts) at that edge, as a request's batch is at its own. */
export function activityBatchOf(rows: readonly ActivityInput[]): ActivityBatch {
  return parseInput(activityBatch, rows);
}

const limit = (fallback: number) => z.number().int().min(1).max(1000).default(fallback);

export const recentActivityOptions = z.strictObject({
  userId: id.optional(),
  type: activityType.optional(),
  limit: limit(50),
});
export type RecentActivityOptions = z.output<typeof recentActivityOptions>;

export const activityListOptions = z.strictObject({
  userId: id.optional(),
  type: activityType.optional(),
  /** Inclusive. */
  since: timestamp.optional(),
  /** Exclusive. */
  until: timestamp.optional(),
  metadataContains: jsonbObject.optional(),
  /** The id of the last activity of the previous page. */
  afterId: id.optional(),
  limit: limit(100),
});
export type ActivityListOptions = z.output<typeof activityListOptions>;
