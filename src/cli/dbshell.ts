import { spawn, spawnSync } from 'node:child_process';
import { Console } from 'node:console';
import { constants as osConstants } from 'node:os';
import { Writable } from 'node:stream';
import { createInterface } from 'node:readline/promises';
import { CommanderError, type Command } from 'commander';
import type { QueryResult } from 'pg';
import type { Database } from '../db/database.js';
import { StrataError } from '../errors.js';
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

/** psql on the database with the caller's arguments; resolves to psql's exit status (128 + the signal number when killed). */
function runPsql(url: string, args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    spawn('psql', [...args, url], { stdio: 'inherit' })
      .on('error', reject)
      .on('exit', (code, signal) => resolve(code ?? 128 + (signal ? osConstants.signals[signal] : 0)));
  });
}

export function registerDbshellCommand(program: Command, context: CliContext): void {
  program.command('dbshell')
    .description('open an SQL shell on the database (psql when installed, else a built-in line shell); arguments after -- go to psql')
    .argument('[psql-args...]', 'passed to psql, e.g. strata dbshell -- -c "select 1"')
    .action(async (args: string[]) => {
      const hasPsql = spawnSync('psql', ['--version']).status === 0;
      if (!hasPsql && args.length > 0) {
        throw new StrataError('VALIDATION_FAILED', `psql arguments (${args.join(' ')}) need psql, which is not installed: install the PostgreSQL client`);
      }
      const status = await withRuntime(context, async ({ database }) => {
        if (hasPsql) return runPsql(database.url, args);
        await runLineShell(database, context);
        return 0;
      });
      // psql printed its own error; strata only passes its status on, as Django's dbshell does.
      if (status !== 0) throw new CommanderError(status, 'strata.dbshell', `psql exited with status ${status}`);
    });
}
