import { CommanderError, type Command } from 'commander';
import type { CheckStatus } from './doctor-checks.js';
import { withRuntime, type CliContext } from './context.js';

const labels: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL' };

export function registerDoctorCommand(program: Command, context: CliContext): void {
  program.command('doctor')
    .description('check the database: migrations, activity partitions (default partition rows, coming months), indexes, pipeline')
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => withRuntime(context, async ({ database }) => {
      const { diagnose } = await import('./doctor-checks.js');
      const checks = await diagnose(database);
      if (options.json) context.out(JSON.stringify(checks));
      else for (const check of checks) context.out(`[${labels[check.status]}] ${check.name}: ${check.detail}`);
      const failed = checks.filter((check) => check.status === 'fail');
      if (failed.length > 0) {
        context.err(`doctor: ${failed.length} problem${failed.length === 1 ? '' : 's'} found (${failed.map((check) => check.name).join(', ')})`);
        throw new CommanderError(1, 'strata.doctor', `${failed.length} problems found`);
      }
    }));
}
