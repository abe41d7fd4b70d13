import type { Command } from 'commander';
import { StrataError } from '../errors.js';
import { withRuntime, type CliContext } from './context.js';
import { integerOption } from './options.js';

const migrator = () => import('../db/migrator.js');

export function registerMigrationCommands(program: Command, context: CliContext): void {
  program.command('migrate [target]')
    .description('apply pending migrations (up to TARGET, a name or its unique prefix such as 0005, or "zero" to revert all)')
    .action(async (target?: string) => withRuntime(context, async ({ database }) => {
      const done = await (await migrator()).migrate(database, target);
      context.out(done.length ? done.join('\n') : 'No migrations to apply.');
    }));

  program.command('rollback')
    .description('revert the most recent migrations')
    .option('--steps <n>', 'how many migrations to revert', '1')
    .action(async (options: { steps: string }) => {
      const steps = integerOption('--steps', options.steps);
      await withRuntime(context, async ({ database }) => {
        const done = await (await migrator()).rollback(database, steps);
        context.out(done.length ? done.join('\n') : 'No migrations to revert.');
      });
    });

  program.command('showmigrations')
    .description('list migrations and whether each is applied')
    .action(async () => withRuntime(context, async ({ database }) => {
      for (const migration of await (await migrator()).showMigrations(database)) {
        context.out(`[${migration.executedAt ? 'X' : ' '}] ${migration.name}`);
      }
    }));

  program.command('sqlmigrate <name>')
    .summary('print the SQL of a migration without running it')
    .description('print the SQL of a migration without running it; NAME may be a unique prefix, such as 0005')
    .option('--down', 'print the reverting SQL')
    .action(async (name: string, options: { down?: boolean }) => {
      for (const statement of await (await migrator()).sqlForMigration(name, options.down ? 'down' : 'up')) {
        context.out(statement.endsWith(';') ? statement : `${statement};`);
      }
    });

  program.command('makemigrations')
    .description('regenerate src/db/schema.generated.ts from the migrated schema')
    .option('--check', 'fail if the committed row types differ from the migrated schema')
    .action(async (options: { check?: boolean }) => withRuntime(context, async ({ database }) => {
      const [{ migrate }, { checkSchemaTypes, writeSchemaTypes }] = await Promise.all([migrator(), import('../db/codegen.js')]);
      await migrate(database);
      if (!options.check) {
        await writeSchemaTypes(database);
        context.out('Wrote src/db/schema.generated.ts');
        return;
      }
      const result = await checkSchemaTypes(database);
      if (!result.upToDate) {
        throw new StrataError('VALIDATION_FAILED', 'src/db/schema.generated.ts is out of date: run `strata makemigrations`');
      }
      context.out('Row types match the migrated schema.');
    }));
}
