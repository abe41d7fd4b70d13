import { z } from 'zod';
import { activityApiBatch, activityApiNames, activityType, isoTimestamp, jsonbObject } from '../../models/activity.js';
import { ActivityRepository } from '../../repositories/activity-repository.js';
import { decodeCursor, idCursor, idParam, page, pageQuery, presenter } from '../http.js';
import { MAX_BATCH_ROWS, ingestOnce, ingestRoute } from '../ingest.js';
import type { App, RouteOptions } from '../types.js';

const postBody = z.strictObject({ activities: activityApiBatch });

const jsonQuery = z.string().max(4096).transform((text, context) => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    context.addIssue({ code: 'custom', message: 'must be a JSON object, URL-encoded' });
    return z.NEVER;
  }
}).pipe(jsonbObject);

const listQuery = z.strictObject({
  ...pageQuery,
  userId: idParam.optional(),
  type: activityType.optional(),
  /** Inclusive. */
  since: isoTimestamp.optional(),
  /** Exclusive. */
  until: isoTimestamp.optional(),
  /** Activities whose metadata contains this object (jsonb @>, served by the GIN index). */
  metadata: jsonQuery.optional(),
});

export async function activityRoutes(app: App, options: RouteOptions): Promise<void> {
  const tags = ['activities'];

  app.post('/activities', {
    ...ingestRoute(options.admission, 'activities'),
    schema: {
      tags,
      summary: `Record up to ${MAX_BATCH_ROWS.toLocaleString('en-US')} activities, all or nothing`,
      description: 'Send an `Idempotency-Key` header to make a retry safe: a batch already stored under that key is not '
        + 'stored again, and the retry gets the first response (with `Idempotent-Replayed: true`).',
      body: postBody,
    },
  }, async (request, reply) => {
    const batch = request.body.activities;
    return ingestOnce(request, reply, 'activities', batch, async (trx) => {
      const { inserted } = await new ActivityRepository(trx).insertBatch(batch);
      return { statusCode: 201, body: { data: { inserted } } };
    });
  });

  app.get('/activities', {
    schema: { tags, summary: 'List activities, newest first (keyset-paginated); filter by user, type, time range and metadata', querystring: listQuery },
  }, async (request) => {
    const { limit, cursor, userId, type, since, until, metadata } = request.query;
    const afterId = decodeCursor(cursor, idCursor);
    const rows = await request.inTenant((trx) => new ActivityRepository(trx).list({
      userId, type, since, until, metadataContains: metadata, afterId, limit,
    }));
    return page(rows, limit, (row) => row.id, presenter({ names: activityApiNames }));
  });
}
