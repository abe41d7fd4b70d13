import { z } from 'zod';
import { jsonbObject, occurredTimestamp } from './activity.js';
import { apiSchema } from './api-spelling.js';
import { MAX_BATCH_ROWS, id, text } from './common.js';
import { parseInput } from './validation.js';

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

/** The API's names where they are not the camelCase of the model's. */
export const eventApiNames = { client_id: 'id', occurred_at: 'timestamp' } as const;
/** An event as clients send it: eventInput itself, under the API's names. */
export const eventApiInput = apiSchema(eventInput, { names: eventApiNames });

/** A validated batch: the brand lets the ingest path take it without validating a second time. */
export const eventBatch = z.array(eventInput).brand<'EventBatch'>();
export type EventBatch = z.output<typeof eventBatch>;
/** A request's batch: rows parsed by eventInput (through its API spelling) earn the same brand. */
export const eventApiBatch = z.array(eventApiInput).min(1).max(MAX_BATCH_ROWS).brand<'EventBatch'>();

/** Validates events from code (the CLI, scripts) at that edge, as a request's batch is at its own. */
export function eventBatchOf(rows: readonly EventInput[]): EventBatch {
  return parseInput(eventBatch, rows);
}

export interface EventIngestResult {
  /** Events in the batch. */
  received: number;
  /** Events stored by this batch. */
  inserted: number;
  /** Events whose id was already stored, or repeated earlier in the same batch. */
  duplicates: number;
}
