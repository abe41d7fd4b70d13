import { spawn, spawnSync } from 'node:child_process';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { withRuntime, type CliContext } from './context.js';

export function registerDbshellCommand(program: Command, context: CliContext): void {
  program.command('dbshell')
    .description('open an SQL shell on the database (psql when installed, else a built-in line shell)')
    .action(async () => withRuntime(context, async ({ database }) => {
      if (spawnSync('psql', ['--version']).status === 0) {
        await new Promise<void>((resolve) => {
          spawn('psql', [database.url], { stdio: 'inherit' }).on('exit', () => resolve());
        });
        return;
      }
      // The embedded server ships no psql: a minimal shell, one statement per line.
      const lines = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY });
      lines.setPrompt('strata=# ');
      lines.prompt();
      for await (const line of lines) {
        if (/^\s*(\\q|quit|exit)\s*$/.test(line)) break;
        if (line.trim()) {
          try {
            const result = await database.pool.query(line);
            const rows = Array.isArray(result) ? result.at(-1)?.rows : result.rows;
            if (rows?.length) console.table(rows);
            else context.out(`${(Array.isArray(result) ? result.at(-1) : result)?.command ?? 'OK'}`);
          } catch (error) {
            context.err(`ERROR: ${(error as Error).message}`);
          }
        }
        lines.prompt();
      }
      lines.close();
    }));
}
