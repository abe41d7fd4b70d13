import { CommanderError } from 'commander';
import { StrataError } from '../errors.js';
import { defaultContext } from './context.js';
import { buildProgram } from './program.js';

// `strata showmigrations | head` closes the pipe early: that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

try {
  const context = defaultContext();
  await buildProgram(context).parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else if (error instanceof StrataError) {
    process.stderr.write(`error ${error.code}: ${error.message}\n`);
    for (const detail of error.details) process.stderr.write(`  ${detail.path ? `${detail.path}: ` : ''}${detail.message}\n`);
    process.exitCode = 1;
  } else {
    process.stderr.write(`error: ${(error as Error)?.message ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
