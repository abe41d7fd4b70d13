import { randomUUID } from 'node:crypto';
import { withTenant } from '../db/tenant.js';
import type { Database } from '../db/database.js';
import { ensureMonthlyPartitions } from '../db/activity-partitions.js';
import { ActivityRepository } from '../repositories/activity-repository.js';
import { EventRepository } from '../repositories/event-repository.js';
import { InventoryRepository } from '../repositories/inventory-repository.js';
import { ProductRepository } from '../repositories/product-repository.js';
import { UserRepository } from '../repositories/user-repository.js';
import { createTenantWithKey } from '../services/tenants.js';
import { activityBatchOf } from '../models/activity.js';
import { eventBatchOf } from '../models/event.js';
import { demoPlan, SEED_DAYS } from './seed-shape.js';

export interface SeedOptions {
  tenants: number;
  users: number;
  products: number;
  activities: number;
  /** Product events in all (default: a quarter of the activities). */
  events?: number;
  /** Called with the number of activities written so far. */
  onProgress?: (written: number) => void;
  now?: Date;
}

export interface SeedResult {
  tenants: { id: number; slug: string; apiKey: string }[];
  users: number;
  products: number;
  activities: number;
  events: number;
}

const TAGS = ['new', 'sale', 'eco', 'premium', 'bundle'];
const BATCH = 5_000;

const share = (total: number, parts: number, index: number) =>
  (index === parts - 1 ? total - Math.floor(total / parts) * (parts - 1) : Math.floor(total / parts));

/**
 * Demo data through the same repositories and ingest path the API uses: users, stocked products,
 * and activities and events over the last 90 days shaped by `demoPlan` (daily and weekly rhythm,
 * growth, churn, cohorts that retain differently), each tenant with a shape of its own.
 */
export async function seedDemoData(database: Database, options: SeedOptions): Promise<SeedResult> {
  const run = Date.now().toString(36);
  const result: SeedResult = { tenants: [], users: 0, products: 0, activities: 0, events: 0 };
  const events = options.events ?? Math.floor(options.activities / 4);
  // The window's past months get partitions of their own rather than filling the default one.
  await ensureMonthlyPartitions(database, { monthsBack: Math.ceil(SEED_DAYS / 28), now: options.now });
  for (let t = 0; t < options.tenants; t += 1) {
    const { tenant, apiKey } = await createTenantWithKey(database, { name: `Demo ${t + 1}`, slug: `demo-${run}-${t + 1}` });
    result.tenants.push({ id: tenant.id, slug: tenant.slug, apiKey: apiKey.key });
    const scope = { tenantId: tenant.id, actorId: apiKey.id };
    const userIds = await withTenant(database, scope, async (trx) => {
      const users = new UserRepository(trx);
      const ids: number[] = [];
      for (let u = 0; u < options.users; u += 1) {
        const user = await users.create({ email: `user${u + 1}@demo-${t + 1}.example`, username: `user${u + 1}`, profile: { display_name: `User ${u + 1}` } });
        ids.push(user.id);
      }
      const products = new ProductRepository(trx);
      const inventory = new InventoryRepository(trx);
      for (let p = 0; p < options.products; p += 1) {
        const product = await products.create({
          name: `Product ${p + 1}`, slug: `product-${p + 1}`, price: ((p * 7) % 100) + 0.99,
          description: `Demo product number ${p + 1}`, tags: [TAGS[p % TAGS.length]!],
        });
        await inventory.adjust(product.id, 10 + (p % 50));
      }
      return ids;
    });
    result.users += userIds.length;
    result.products += options.products;
    if (userIds.length === 0) continue;
    const plan = demoPlan({
      users: userIds.length, seed: t + 1, now: options.now,
      activities: share(options.activities, options.tenants, t), events: share(events, options.tenants, t),
    });
    for (let start = 0; start < plan.activities.length; start += BATCH) {
      const rows = plan.activities.slice(start, start + BATCH).map((row) => ({
        user_id: userIds[row.user]!, activity_type: row.type, metadata: row.metadata, created_at: row.at.toISOString(),
      }));
      await withTenant(database, scope, (trx) => new ActivityRepository(trx).insertBatch(activityBatchOf(rows)));
      result.activities += rows.length;
      options.onProgress?.(result.activities);
    }
    for (let start = 0; start < plan.events.length; start += BATCH) {
      const rows = plan.events.slice(start, start + BATCH).map((row) => ({
        client_id: randomUUID(), distinct_id: `user-${userIds[row.user]}`, user_id: userIds[row.user]!,
        name: row.type, properties: row.metadata, occurred_at: row.at.toISOString(),
      }));
      await withTenant(database, scope, (trx) => new EventRepository(trx).insertBatch(eventBatchOf(rows)));
      result.events += rows.length;
    }
  }
  return result;
}
