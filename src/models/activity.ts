import { z } from 'zod';
import type { JsonObject } from '../db/schema.generated.js';
import { id } from './common.js';

export type { UserActivity } from '../db/schema.generated.js';

const MAX_DEPTH = 32;

// jsonb refuses NUL and lone surrogates anywhere, and JSON has no undefined, NaN, Date or class instance.
function isStorableString(value: string): boolean {
  return !value.includes('\u0000') && !/\p{Cs}/u.test(value);
}

function isStorableJson(value: unknown, depth: number): boolean {
  if (value === null || typeof value === 'boolean') return true;
  if (typeof value === 'string') return isStorableString(value);
  if (typeof value === 'number') return Number.isFinite(value);
  if (depth >= MAX_DEPTH || typeof value !== 'object') return false;
  if (Array.isArray(value)) return value.every((item) => isStorableJson(item, depth + 1));
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return false;
  return Object.entries(value).every(([key, item]) => isStorableString(key) && isStorableJson(item, depth + 1));
}

/**
 * A JSON object jsonb can store. Hand-written rather than z.json(): on 100,000 activities z.json()
 * took ~700 ms and this check ~110 ms, and validation sits on the bulk ingest path.
 */
export const jsonbObject = z.custom<JsonObject>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value) && isStorableJson(value, 0),
  `must be a JSON object (finite numbers, no NUL characters, at most ${MAX_DEPTH} levels deep)`,
);

/** Mirrors the user_activity_type_format check, so a bad type fails here with the field named. */
export const activityType = z.string().regex(/^[A-Za-z0-9_.:-]{1,50}$/, '1 to 50 letters, digits or _ . : -');

// timestamptz refuses year 0 and days a month does not have, which the ISO pattern lets through.
function isRealDate(iso: string): boolean {
  const [year, month, day] = iso.slice(0, 10).split('-').map(Number) as [number, number, number];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  return year >= 1 && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

export const timestamp = z.union([z.date(), z.iso.datetime({ offset: true })])
  .transform((value) => (typeof value === 'string' ? value : value.toISOString()))
  .refine(isRealDate, 'must be a real date, in year 1 or later');

export const activityInput = z.strictObject({
  user_id: id,
  activity_type: activityType,
  metadata: jsonbObject.optional(),
  // Left out, the database clock sets it; given, it records when a late-arriving activity happened.
  created_at: timestamp.optional(),
});
export type ActivityInput = z.input<typeof activityInput>;
export type ParsedActivity = z.output<typeof activityInput>;

export const activityBatch = z.array(activityInput);

const limit = (fallback: number) => z.number().int().min(1).max(1000).default(fallback);

export const recentActivityOptions = z.strictObject({
  userId: id.optional(),
  type: activityType.optional(),
  limit: limit(50),
});
export type RecentActivityOptions = z.input<typeof recentActivityOptions>;

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
export type ActivityListOptions = z.input<typeof activityListOptions>;
