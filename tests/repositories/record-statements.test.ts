import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { activityBatchOf } from '../../src/models/activity.js';
import { eventBatchOf } from '../../src/models/event.js';
import { ActivityRepository, COPY_THRESHOLD } from '../../src/repositories/activity-repository.js';
import { EventRepository } from '../../src/repositories/event-repository.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';

let database: TestDatabase;
let tenantId: number;
let userId: number;

beforeAll(async () => {
  database = await migratedDatabase();
  tenantId = (await createTenant(database, 'Statements')).id;
  userId = (await createUser(database, tenantId)).id;
});

describe('ActivityRepository statements', () => {
  it('plans a read with the requested limit rounded up to the next 1-2-5 step, and returns the limit asked for', async () => {
    await withTenant(database, { tenantId }, async (trx) => {
      const activities = new ActivityRepository(trx);
      await activities.insertBatch(activityBatchOf(Array.from({ length: 12 }, () => ({ user_id: userId, activity_type: 'login' }))));
      for (const [limit, planned] of [[7, 10], [10, 10], [11, 20]] as const) {
        const { result, statements } = await database.queries.measure(() => activities.recentActivity({ limit }));
        expect(result).toHaveLength(limit);
        expect(statements.join('\n')).toMatch(new RegExp(`limit ${planned}\\b`, 'i'));
      }
    });
  });

  // A cluster inserts every batch in chunks, never through COPY.
  it('keeps the caller\'s COPY threshold: a batch of two with a threshold of one goes through COPY on a single server', async () => {
    await withTenant(database, { tenantId }, async (trx) => {
      const activities = new ActivityRepository(trx, { copyThreshold: 1 });
      const batch = activityBatchOf([{ user_id: userId, activity_type: 'copy' }, { user_id: userId, activity_type: 'copy' }]);
      const { result, statements } = await database.queries.measure(() => activities.insertBatch(batch));
      expect(result).toEqual({ inserted: 2 });
      expect(statements.some((statement) => /\bcopy\b/i.test(statement))).toBe(!onCitus());
    });
  });
});

describe('EventRepository statements', () => {
  it('looks nothing up, without a query, for no client ids', async () => {
    await withTenant(database, { tenantId }, async (trx) => {
      const { result, queries } = await database.queries.measure(() => new EventRepository(trx).byClientIds([]));
      expect({ result, queries }).toEqual({ result: [], queries: 0 });
    });
  });

  it('stores events without properties as {} on the COPY path too', async () => {
    const ids = Array.from({ length: COPY_THRESHOLD }, () => randomUUID());
    await withTenant(database, { tenantId }, async (trx) => {
      const events = new EventRepository(trx);
      expect(await events.insertBatch(eventBatchOf(ids.map((id) => ({ client_id: id, distinct_id: 'd', name: 'bulk' })))))
        .toMatchObject({ inserted: COPY_THRESHOLD });
      const [stored] = await events.byClientIds([ids[0]!]);
      expect(stored!.properties).toEqual({});
    });
  });

  it('never returns another tenant\'s events for their client ids', async () => {
    const id = randomUUID();
    await withTenant(database, { tenantId }, (trx) => new EventRepository(trx).insertBatch(eventBatchOf([{ client_id: id, distinct_id: 'd', name: 'mine' }])));
    const other = (await createTenant(database, 'Other')).id;
    expect(await withTenant(database, { tenantId: other }, (trx) => new EventRepository(trx).byClientIds([id]))).toEqual([]);
  });
});
