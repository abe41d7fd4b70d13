import { z } from 'zod';
import { jsonbObject, occurredTimestamp } from './activity.js';
import { id, text } from './common.js';

export type { Event } from '../db/schema.generated.js';

export const eventInput = z.strictObject({
  /** The client's own id for the event: a retried or repeated event carries the same one and is stored once. */
  client_id: z.uuid(),
  distinct_id: text(200).min(1),
  user_id: id.nullable().optional(),
  name: text(200).min(1),
  properties: jsonbObject.optional(),
  // Left out, the database clock sets it; given, it records when the event happened on the client.
  occurred_at: occurredTimestamp.optional(),
});
export type EventInput = z.input<typeof eventInput>;
export type ParsedEvent = z.output<typeof eventInput>;

/** A validated batch: the brand lets the ingest path take it without validating a second time. */
export const eventBatch = z.array(eventInput).brand<'EventBatch'>();
export type EventBatch = z.output<typeof eventBatch>;

export interface EventIngestResult {
  /** Events in the batch. */
  received: number;
  /** Events stored by this batch. */
  inserted: number;
  /** Events whose id was already stored, or repeated earlier in the same batch. */
  duplicates: number;
}
