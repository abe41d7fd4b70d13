import type { Command } from 'commander';
import { StrataError } from '../errors.js';
import { TenantRepository } from '../repositories/tenant-repository.js';
import { createTenantWithKey } from '../services/tenants.js';
import { tenantInput } from '../models/tenant.js';
import { parseInput } from '../models/validation.js';
import { withRuntime, type CliContext } from './context.js';

/** "Café Zürich" → "cafe-zurich": accents dropped (not turned into dashes), at most 63 characters. */
export function slugFor(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/\p{M}+/gu, '').replace(/[^a-z0-9]+/g, '-')
    .slice(0, 63).replace(/^-+|-+$/g, '');
}

export function registerTenantCommands(program: Command, context: CliContext): void {
  const tenants = program.command('tenants').description('manage tenants');
  tenants.command('create <name>')
    .description('create a tenant and print its first API key (shown once)')
    .option('--slug <slug>', 'URL-safe identifier (default: derived from the name)')
    .action(async (name: string, options: { slug?: string }) => withRuntime(context, async ({ database }) => {
      const slug = options.slug ?? slugFor(name);
      if (!slug) throw new StrataError('VALIDATION_FAILED', `no slug can be derived from "${name}": pass --slug`);
      const { tenant, apiKey } = await createTenantWithKey(database, parseInput(tenantInput, { name, slug }));
      context.out(JSON.stringify({ id: tenant.id, name: tenant.name, slug: tenant.slug, apiKey: apiKey.key }));
    }));
  tenants.command('list')
    .description('list tenants')
    .action(async () => withRuntime(context, async ({ database }) => {
      for (const tenant of await new TenantRepository(database.admin).list({ limit: 1000 })) {
        context.out(`${tenant.id}\t${tenant.slug}\t${tenant.name}`);
      }
    }));
}
