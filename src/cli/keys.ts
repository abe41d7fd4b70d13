import type { Command } from 'commander';
import { withRuntime, type CliContext } from './context.js';
import { integerOption } from './options.js';
import { formatTable } from './table.js';

/** What every keys command needs, imported when one runs. */
async function keyModules() {
  const [{ withTenant }, { TenantRepository }, apiKeys] = await Promise.all([
    import('../db/tenant.js'), import('../repositories/tenant-repository.js'), import('../services/api-keys.js'),
  ]);
  return { withTenant, TenantRepository, ...apiKeys };
}

export function registerKeyCommands(program: Command, context: CliContext): void {
  const keys = program.command('keys').description('manage a tenant\'s API keys (what the admin key does through /v1/tenants/:id/api-keys)');
  keys.command('create')
    .description('issue an API key for a tenant; the key is printed once')
    .requiredOption('--tenant <id>', 'the tenant')
    .option('--name <name>', 'what the key is for', 'default')
    .option('--read-only', 'the key can only GET and HEAD')
    .action(async (options: { tenant: string; name: string; readOnly?: boolean }) => withRuntime(context, async ({ database }) => {
      const tenantId = integerOption('--tenant', options.tenant);
      const { withTenant, TenantRepository, issueTenantKey } = await keyModules();
      await new TenantRepository(database.admin).getById(tenantId);
      const issued = await withTenant(database, { tenantId }, (trx) => issueTenantKey(trx, options.name, { readOnly: options.readOnly ?? false }));
      context.out(JSON.stringify({ id: issued.id, name: issued.name, readOnly: issued.readOnly, key: issued.key }));
    }));
  keys.command('list')
    .description('list a tenant\'s keys (never the keys themselves): id, name, prefix, access, state')
    .requiredOption('--tenant <id>', 'the tenant')
    .action(async (options: { tenant: string }) => withRuntime(context, async ({ database }) => {
      const tenantId = integerOption('--tenant', options.tenant);
      const { withTenant, TenantRepository, listTenantKeys } = await keyModules();
      await new TenantRepository(database.admin).getById(tenantId);
      const rows = await withTenant(database, { tenantId }, (trx) => listTenantKeys(trx, { limit: 1000 }));
      if (rows.length === 0) {
        context.out(`tenant ${tenantId} has no API keys: \`strata keys create --tenant ${tenantId}\` issues one`);
        return;
      }
      const table = rows.map((row) => [String(row.id), row.name, row.prefix, row.read_only ? 'read-only' : 'read-write', row.revoked_at ? 'revoked' : 'active']);
      for (const line of formatTable(['id', 'name', 'prefix', 'access', 'state'], table, ['right'])) context.out(line);
    }));
  keys.command('revoke <keyId>')
    .description('revoke a tenant\'s key (its last one too: issue another with keys create)')
    .requiredOption('--tenant <id>', 'the tenant')
    .action(async (keyId: string, options: { tenant: string }) => withRuntime(context, async ({ database }) => {
      const tenantId = integerOption('--tenant', options.tenant);
      const id = integerOption('keyId', keyId);
      const { withTenant, TenantRepository, revokeTenantKey } = await keyModules();
      await new TenantRepository(database.admin).getById(tenantId);
      const revoke = () => withTenant(database, { tenantId }, (trx) => revokeTenantKey(trx, id));
      if (context.config.REDIS_URL) {
        const [{ createCaches }, { default: pino }] = await Promise.all([import('../caching/index.js'), import('pino')]);
        const caches = createCaches({ config: context.config, database, logger: pino({ name: 'strata-cache', level: context.config.LOG_LEVEL }) });
        try {
          await caches.ready(2000);
          await caches.invalidation.apiKeyWrite(tenantId, revoke);
        } finally {
          await caches.close();
        }
      } else {
        // Running instances then cache sessions in their own memory, which this process cannot
        // reach: they refuse the key once its session expires, within a minute (caching/index.ts).
        await revoke();
      }
      context.out(`Revoked key ${id} of tenant ${tenantId}`);
    }));
}
