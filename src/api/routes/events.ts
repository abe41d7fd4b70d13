import { z } from 'zod';
import { eventApiBatch } from '../../models/event.js';
import { EventRepository } from '../../repositories/event-repository.js';
import { MAX_BATCH_ROWS, ingestOnce, ingestRoute } from '../ingest.js';
import type { App, RouteOptions } from '../types.js';

const postBody = z.strictObject({ events: eventApiBatch });

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
