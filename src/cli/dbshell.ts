import { spawn, spawnSync } from 'node:child_process';
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import type { QueryResult } from 'pg';
import type { Database } from '../db/database.js';
import { withRuntime, type CliContext } from './context.js';

function tableOf(rows: unknown[]): string {
  let text = '';
  const sink = new Writable({ write(chunk, _encoding, done) { text += String(chunk); done(); } });
  new Console({ stdout: sink }).table(rows);
  return text.trimEnd();
}

/**
 * The embedded server ships no psql: a minimal shell, one statement per line, until EOF or \q.
 * Results and errors go through the context, so a failing statement never ends the session.
 */
export async function runLineShell(
  database: Database, context: CliContext,
  input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  const lines = createInterface({ input, output, terminal: (input as { isTTY?: boolean }).isTTY ?? false });
  lines.setPrompt('strata=# ');
  lines.prompt();
  for await (const line of lines) {
    if (/^\s*(\\q|quit|exit)\s*$/.test(line)) break;
    if (line.trim()) {
      try {
        const result: QueryResult | QueryResult[] = await database.pool.query(line);
        const last = [result].flat().at(-1);
        context.out(last?.rows?.length ? tableOf(last.rows) : `${last?.command ?? 'OK'}`);
      } catch (error) {
        context.err(`ERROR: ${(error as Error).message}`);
      }
    }
    lines.prompt();
  }
  lines.close();
}

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
      await runLineShell(database, context);
    }));
}
