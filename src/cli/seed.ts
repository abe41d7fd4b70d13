import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import { withTenant } from '../db/tenant.js';
import type { Database } from '../db/database.js';
import { ActivityRepository } from '../repositories/activity-repository.js';
import { InventoryRepository } from '../repositories/inventory-repository.js';
import { ProductRepository } from '../repositories/product-repository.js';
import { UserRepository } from '../repositories/user-repository.js';
import { createTenantWithKey } from '../services/tenants.js';
import { withRuntime, type CliContext } from './context.js';
import { integerOption } from './options.js';
import { activityBatchOf } from '../models/activity.js';

export interface SeedOptions {
  tenants: number;
  users: number;
  products: number;
  activities: number;
  /** Called with the number of activities written so far. */
  onProgress?: (written: number) => void;
}

export interface SeedResult {
  tenants: { id: number; slug: string; apiKey: string }[];
  users: number;
  products: number;
  activities: number;
}

const ACTIVITY_TYPES = ['login', 'logout', 'view', 'search', 'purchase', 'share'];
const TAGS = ['new', 'sale', 'eco', 'premium', 'bundle'];
const BATCH = 5_000;

/** Demo data through the same repositories and ingest path the API uses, spread over the last 30 days. */
export async function seedDemoData(database: Database, options: SeedOptions): Promise<SeedResult> {
  const run = Date.now().toString(36);
  const result: SeedResult = { tenants: [], users: 0, products: 0, activities: 0 };
  const perTenant = Math.floor(options.activities / options.tenants);
  for (let t = 0; t < options.tenants; t += 1) {
    const { tenant, apiKey } = await createTenantWithKey(database, { name: `Demo ${t + 1}`, slug: `demo-${run}-${t + 1}` });
    result.tenants.push({ id: tenant.id, slug: tenant.slug, apiKey: apiKey.key });
    const scope = { tenantId: tenant.id };
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
    const quota = t === options.tenants - 1 ? options.activities - perTenant * (options.tenants - 1) : perTenant;
    for (let written = 0; written < quota && userIds.length > 0; written += BATCH) {
      const size = Math.min(BATCH, quota - written);
      const rows = Array.from({ length: size }, (_, i) => {
        const n = written + i;
        return {
          user_id: userIds[n % userIds.length]!,
          activity_type: ACTIVITY_TYPES[n % ACTIVITY_TYPES.length]!,
          metadata: { source: 'seed', n },
          created_at: new Date(Date.now() - ((n * 7919) % (30 * 86_400_000))).toISOString(),
        };
      });
      await withTenant(database, scope, (trx) => new ActivityRepository(trx).insertBatch(activityBatchOf(rows)));
      result.activities += size;
      options.onProgress?.(result.activities);
    }
  }
  return result;
}


export function registerSeedCommand(program: Command, context: CliContext): void {
  program.command('seed')
    .description('load demo data: tenants, users, products with stock, and activities')
    .option('--tenants <n>', 'tenants to create', '3')
    .option('--users <n>', 'users per tenant', '20')
    .option('--products <n>', 'products per tenant', '10')
    .option('--activities <n>', 'activities in all', '10000')
    .option('--no-progress', 'do not draw a progress bar')
    .action(async (raw: { tenants: string; users: string; products: string; activities: string; progress: boolean }) => {
      const options = {
        tenants: integerOption('--tenants', raw.tenants), users: integerOption('--users', raw.users),
        products: integerOption('--products', raw.products, 0), activities: integerOption('--activities', raw.activities, 0),
      };
      await withRuntime(context, async ({ database }) => {
        const bar = raw.progress && process.stderr.isTTY ? new SingleBar({ stream: process.stderr }, Presets.shades_classic) : null;
        bar?.start(options.activities, 0);
        const result = await seedDemoData(database, { ...options, onProgress: (written) => bar?.update(written) });
        bar?.stop();
        context.out(`Seeded ${result.tenants.length} tenants, ${result.users} users, ${result.products} products, ${result.activities} activities.`);
        for (const tenant of result.tenants) context.out(`  tenant ${tenant.id} (${tenant.slug}) key: ${tenant.apiKey}`);
      });
    });
}
