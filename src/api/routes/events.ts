import { z } from 'zod';
import { jsonbObject, occurredAt } from '../../models/activity.js';
import { id, text } from '../../models/common.js';
import { EventRepository } from '../../repositories/event-repository.js';
import { MAX_BATCH_ROWS, ingestOnce, ingestRoute } from '../ingest.js';
import type { App, RouteOptions } from '../types.js';

/** One product event as the API spells it, turned into the repository's row. */
const apiEvent = z.strictObject({
  /** The client's uuid for this event: sending it again never stores it twice. */
  id: z.uuid(),
  distinctId: text(200).min(1),
  userId: id.nullable().optional(),
  name: text(200).min(1),
  properties: jsonbObject.optional(),
  timestamp: occurredAt.optional(),
}).transform(({ id: clientId, distinctId, userId, name, properties, timestamp }) => ({
  client_id: clientId, distinct_id: distinctId, user_id: userId, name, properties, occurred_at: timestamp,
}));

const postBody = z.strictObject({
  // Branded as the repository's validated batch: the rows are checked here once, not again below.
  events: z.array(apiEvent).min(1).max(MAX_BATCH_ROWS).brand<'EventBatch'>(),
});

export async function eventRoutes(app: App, options: RouteOptions): Promise<void> {
  app.post('/events', {
    ...ingestRoute(options.admission, 'events'),
    schema: {
      tags: ['events'],
      summary: `Record up to ${MAX_BATCH_ROWS.toLocaleString('en-US')} product events; an id already stored is skipped`,
      description: 'Each event id (a client uuid) is stored once per tenant, whether it repeats within a batch or across '
        + 'batches; the answer counts the new events and the duplicates. An `Idempotency-Key` header also replays the '
        + 'first answer to a retried batch (with `Idempotent-Replayed: true`).',
      body: postBody,
    },
  }, async (request, reply) => {
    const batch = request.body.events;
    return ingestOnce(request, reply, 'events', batch, async (trx) => ({
      statusCode: 200,
      body: { data: await new EventRepository(trx).insertBatch(batch) },
    }));
  });
}
