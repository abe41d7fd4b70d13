import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { executePrepared } from '../../src/db/prepared.js';
import { scopeTransaction } from '../../src/db/tenant.js';
import { ActivityRepository } from '../../src/repositories/activity-repository.js';
import { migratedDatabase, type TestDatabase, onCitus } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { activityBatchOf } from '../../src/models/activity.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

describe('executePrepared', () => {
  it('answers as the plain query does, and prepares it once per connection', async () => {
    await database.admin.transaction().execute(async (trx) => {
      const query = trx.selectFrom('tenant').select(['id', 'slug']).where('id', '>', 0).orderBy('id');
      const plain = await query.execute();
      expect(await executePrepared(trx, query)).toEqual(plain);
      expect(await executePrepared(trx, query)).toEqual(plain);
      const { rows } = await sql<{ statements: number }>`
        select count(*)::int as statements from pg_prepared_statements where name like 'strata_%'`.execute(trx);
      expect(rows[0]!.statements).toBe(1);
    });
  });

  // Citus re-plans a router query on each execution (it prunes shards with the parameters), so the
  // generic-plan count that this case reads stays at zero there: it holds on a single server only.
  it.runIf(!onCitus())('lets the activity reads settle on one cached generic plan, whatever the tenant asks for (single server)', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await database.admin.transaction().execute(async (trx) => {
      const activities = new ActivityRepository(await scopeTransaction(trx, { tenantId: tenant.id }));
      await activities.insertBatch(activityBatchOf(Array.from({ length: 30 }, (_, index) => ({ user_id: user.id, activity_type: ['a', 'b', 'c'][index % 3]! }))));
      for (let run = 0; run < 8; run += 1) expect(await activities.recentActivity({ type: ['a', 'b', 'c'][run % 3], limit: 5 })).toHaveLength(5);
      const { rows } = await sql<{ generic: number; custom: number }>`
        select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements
        where name like 'strata_%' and statement like '%activity_type%'`.execute(trx);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.generic).toBeGreaterThan(0);
    });
  });

  it('keeps the statements a query shape prepares to a handful, whatever limits the tenant asks for', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await database.admin.transaction().execute(async (trx) => {
      const activities = new ActivityRepository(await scopeTransaction(trx, { tenantId: tenant.id }));
      await activities.insertBatch(activityBatchOf(Array.from({ length: 60 }, () => ({ user_id: user.id, activity_type: 'a' }))));
      const newest = await activities.list({ limit: 60 });
      for (let limit = 1; limit <= 100; limit += 1) {
        expect(await activities.recentActivity({ type: 'a', limit })).toHaveLength(Math.min(limit, 60));
        expect(await activities.list({ limit })).toEqual(newest.slice(0, limit));
      }
      const { rows } = await sql<{ statements: number }>`
        select count(*)::int as statements from pg_prepared_statements where name like 'strata_%' and statement like '%activity_type%'`.execute(trx);
      // Two query shapes, each with limits rounded up to 1, 2, 5, 10, 20, 50 or 100.
      expect(rows[0]!.statements).toBe(2 * 7);
    });
  });
});
