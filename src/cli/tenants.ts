import type { Command } from 'commander';
import { TenantRepository } from '../repositories/tenant-repository.js';
import { withRuntime, type CliContext } from './context.js';

function slugFor(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
}

export function registerTenantCommands(program: Command, context: CliContext): void {
  const tenants = program.command('tenants').description('manage tenants');
  tenants.command('create <name>')
    .description('create a tenant')
    .option('--slug <slug>', 'URL-safe identifier (default: derived from the name)')
    .action(async (name: string, options: { slug?: string }) => withRuntime(context, async ({ database }) => {
      const tenant = await new TenantRepository(database.admin).create({ name, slug: options.slug ?? slugFor(name) });
      context.out(JSON.stringify({ id: tenant.id, name: tenant.name, slug: tenant.slug }));
    }));
  tenants.command('list')
    .description('list tenants')
    .action(async () => withRuntime(context, async ({ database }) => {
      for (const tenant of await new TenantRepository(database.admin).list({ limit: 1000 })) {
        context.out(`${tenant.id}\t${tenant.slug}\t${tenant.name}`);
      }
    }));
}
