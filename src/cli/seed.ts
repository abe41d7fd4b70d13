import type { Command } from 'commander';
import { withRuntime, type CliContext } from './context.js';
import { integerOption } from './options.js';
import { SEED_DAYS } from './seed-shape.js';

export function registerSeedCommand(program: Command, context: CliContext): void {
  program.command('seed')
    .description('load demo data: tenants, users, products with stock, and activities')
    .option('--tenants <n>', 'tenants to create', '3')
    .option('--users <n>', 'users per tenant', '200')
    .option('--products <n>', 'products per tenant', '10')
    .option('--activities <n>', 'activities in all, over the last 90 days', '30000')
    .option('--events <n>', 'product events in all (default: a quarter of the activities)')
    .option('--no-progress', 'do not draw a progress bar')
    .action(async (raw: { tenants: string; users: string; products: string; activities: string; events?: string; progress: boolean }) => {
      const options = {
        tenants: integerOption('--tenants', raw.tenants), users: integerOption('--users', raw.users),
        products: integerOption('--products', raw.products, 0), activities: integerOption('--activities', raw.activities, 0),
        ...(raw.events === undefined ? {} : { events: integerOption('--events', raw.events, 0) }),
      };
      const [{ seedDemoData }, { Presets, SingleBar }] = await Promise.all([import('./demo-data.js'), import('cli-progress')]);
      await withRuntime(context, async ({ database }) => {
        const bar = raw.progress && process.stderr.isTTY ? new SingleBar({ stream: process.stderr }, Presets.shades_classic) : null;
        bar?.start(options.activities, 0);
        const result = await seedDemoData(database, { ...options, onProgress: (written) => bar?.update(written) });
        bar?.stop();
        context.out(`Seeded ${result.tenants.length} tenants, ${result.users} users, ${result.products} products, ${result.activities} activities, ${result.events} events over the last ${SEED_DAYS} days.`);
        for (const tenant of result.tenants) context.out(`  tenant ${tenant.id} (${tenant.slug}) key: ${tenant.apiKey}`);
      });
    });
}
