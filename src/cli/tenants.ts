import type { Command } from 'commander';
import { StrataError } from '../errors.js';
import { withRuntime, type CliContext } from './context.js';
import { formatTable } from './table.js';

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
      const { createTenantWithKey } = await import('../services/tenants.js');
      const { tenantInput } = await import('../models/tenant.js');
      const { parseInput } = await import('../models/validation.js');
      const { tenant, apiKey } = await createTenantWithKey(database, parseInput(tenantInput, { name, slug }));
      context.out(JSON.stringify({ id: tenant.id, name: tenant.name, slug: tenant.slug, apiKey: apiKey.key }));
    }));
  tenants.command('list')
    .description('list tenants: id, slug, name, creation time')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => withRuntime(context, async ({ database }) => {
      const { TenantRepository } = await import('../repositories/tenant-repository.js');
      const rows = await new TenantRepository(database.admin).list({ limit: 1000 });
      if (options.json) {
        context.out(JSON.stringify(rows.map((tenant) => ({ id: tenant.id, slug: tenant.slug, name: tenant.name, createdAt: tenant.created_at }))));
      } else if (rows.length === 0) {
        context.out('no tenants yet: `strata tenants create NAME` makes one');
      } else {
        const table = rows.map((tenant) => [String(tenant.id), tenant.slug, tenant.name, tenant.created_at.toISOString()]);
        for (const line of formatTable(['id', 'slug', 'name', 'created'], table, ['right'])) context.out(line);
      }
    }));
}
