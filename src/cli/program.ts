import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerActivityCommands } from './activity.js';
import { registerCacheCommands } from './cache.js';
import { registerClusterCommands } from './cluster.js';
import type { CliContext } from './context.js';
import { registerDbshellCommand } from './dbshell.js';
import { registerDoctorCommand } from './doctor.js';
import { registerEtlCommands } from './etl.js';
import { registerKeyCommands } from './keys.js';
import { registerMigrationCommands } from './migrations.js';
import { registerSeedCommand } from './seed.js';
import { registerServeCommand } from './serve.js';
import { registerTenantCommands } from './tenants.js';

// The same relative path from src/cli/ and from the compiled dist/cli/.
const packageJson = new URL('../../package.json', import.meta.url);

export function strataVersion(): string {
  return (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
}

export function buildProgram(context: CliContext): Command {
  const program = new Command('strata')
    .description('Strata: the multi-tenant data platform on PostgreSQL')
    .version(strataVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride();
  registerServeCommand(program, context);
  registerMigrationCommands(program, context);
  registerTenantCommands(program, context);
  registerKeyCommands(program, context);
  registerDbshellCommand(program, context);
  registerCacheCommands(program, context);
  registerEtlCommands(program, context);
  registerSeedCommand(program, context);
  registerDoctorCommand(program, context);
  registerActivityCommands(program, context);
  registerClusterCommands(program, context);
  return program;
}
