import type { Command } from 'commander';
import { loadConfig } from '../../src/config.js';
import type { CliContext } from '../../src/cli/context.js';
import { buildProgram } from '../../src/cli/program.js';
import type { Database } from '../../src/db/database.js';

export interface TestCli {
  readonly context: CliContext;
  readonly out: string[];
  readonly err: string[];
  /** How many runtimes the commands opened and how many they closed. */
  readonly runtimes: { opened: number; closed: number };
  /** Runs one command line (as after `strata`) and returns what it printed to stdout. */
  run(...args: string[]): Promise<string[]>;
  program(): Command;
}

/** A CLI whose commands run in-process on a test database, printing into arrays. */
export function testCli(database: Database, env: NodeJS.ProcessEnv = {}): TestCli {
  const out: string[] = [];
  const err: string[] = [];
  const runtimes = { opened: 0, closed: 0 };
  const context: CliContext = {
    config: loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent', ...env }),
    openRuntime: async () => {
      runtimes.opened += 1;
      // The test owns the database: the command's close() must not end the file's pool.
      return { database, embedded: null, close: async () => { runtimes.closed += 1; } };
    },
    out: (line) => out.push(line),
    err: (line) => err.push(line),
  };
  const program = () => buildProgram(context).configureOutput({
    writeOut: (text) => out.push(text.trimEnd()),
    writeErr: (text) => err.push(text.trimEnd()),
  });
  return {
    context, out, err, runtimes, program,
    async run(...args) {
      out.length = 0;
      err.length = 0;
      await program().parseAsync(args, { from: 'user' });
      return [...out];
    },
  };
}
