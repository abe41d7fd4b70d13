import { CommanderError } from 'commander';
import { defaultContext } from './context.js';
import { errorLines, exitCodeOf } from './failure.js';
import { buildProgram } from './program.js';

// `strata showmigrations | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  const context = defaultContext();
  await buildProgram(context).hook('preAction', () => context.loadConfig()).parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) for (const line of errorLines(error)) process.stderr.write(`${line}\n`);
  process.exitCode = exitCodeOf(error);
}
