import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { runLineShell } from '../../src/cli/dbshell.js';
import { migratedDatabase } from '../helpers/database.js';
import { testCli } from './cli-context.js';

async function shell(lines: string[]) {
  const database = await migratedDatabase();
  const cli = testCli(database);
  const prompts = new PassThrough();
  let shown = '';
  prompts.on('data', (chunk) => { shown += String(chunk); });
  await runLineShell(database, cli.context, Readable.from(lines.map((line) => `${line}\n`)), prompts);
  return { out: cli.out, err: cli.err, shown };
}

describe('the built-in line shell (dbshell without psql)', () => {
  it('runs one statement per line, prints rows as a table and commands by name', async () => {
    const { out, err, shown } = await shell([
      'create table note (id int, body text)',
      '',
      `insert into note values (1, 'first'), (2, 'second')`,
      'select id, body from note order by id',
    ]);
    expect(err).toEqual([]);
    expect(out[0]).toBe('CREATE');
    expect(out[1]).toBe('INSERT');
    expect(out[2]).toMatch(/│\s+id\s+│\s+body\s+│/);
    expect(out[2]).toMatch(/'second'/);
    expect(shown).toContain('strata=# ');
  });

  it('reports an error and carries on, and stops at \\q', async () => {
    const { out, err } = await shell(['select nonsense from nowhere', 'select 1 as one; select 2 as two', '\\q', 'select 3']);
    expect(err).toEqual([expect.stringMatching(/^ERROR: relation "nowhere" does not exist/)]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/two/);
  });
});

describe('strata dbshell', () => {
  const originalPath = process.env.PATH;
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;

  afterEach(() => {
    process.env.PATH = originalPath;
    Object.defineProperty(process, 'stdin', stdin);
  });

  /** A psql on PATH that answers --version, records how it was started and exits with PSQL_STATUS. */
  async function fakePsql() {
    const bin = await mkdtemp(join(tmpdir(), 'strata-psql-'));
    const record = join(bin, 'args');
    await writeFile(join(bin, 'psql'), `#!/bin/sh\n[ "$1" = --version ] && exit 0\necho "$@" > ${record}\nexit \${PSQL_STATUS:-0}\n`, { mode: 0o755 });
    process.env.PATH = `${bin}:${originalPath}`;
    return { args: async () => (await readFile(record, 'utf8')).trim(), remove: () => rm(bin, { recursive: true, force: true }) };
  }

  it('opens psql on the database URL when psql is installed, and closes the runtime after it exits', async () => {
    const psql = await fakePsql();
    const database = await migratedDatabase();
    const cli = testCli(database);
    await cli.run('dbshell');
    expect(await psql.args()).toBe(database.url);
    expect(cli.runtimes).toEqual({ opened: 1, closed: 1 });
    await psql.remove();
  });

  it('passes the arguments after -- to psql, and exits with psql\'s status', async () => {
    const psql = await fakePsql();
    const database = await migratedDatabase();
    const cli = testCli(database);
    await cli.run('dbshell', '--', '-c', 'select 1', '--no-psqlrc');
    expect(await psql.args()).toBe(`-c select 1 --no-psqlrc ${database.url}`);
    process.env.PSQL_STATUS = '3';
    try {
      await expect(cli.run('dbshell', '--', '-c', 'select nonsense')).rejects.toMatchObject({ exitCode: 3, code: 'strata.dbshell' });
    } finally {
      delete process.env.PSQL_STATUS;
    }
    expect(cli.runtimes).toEqual({ opened: 2, closed: 2 });
    await psql.remove();
  });

  it('refuses psql arguments without psql, before opening the database', async () => {
    process.env.PATH = await mkdtemp(join(tmpdir(), 'strata-no-psql-'));
    const cli = testCli(await migratedDatabase());
    await expect(cli.run('dbshell', '--', '-c', 'select 1')).rejects.toMatchObject({ code: 'VALIDATION_FAILED', message: expect.stringMatching(/need psql/) });
    expect(cli.runtimes.opened).toBe(0);
    await rm(process.env.PATH, { recursive: true, force: true });
  });

  it('falls back to the line shell on stdin when psql is missing', async () => {
    process.env.PATH = await mkdtemp(join(tmpdir(), 'strata-no-psql-'));
    Object.defineProperty(process, 'stdin', { value: Readable.from(['select 41 + 1 as answer\n']), configurable: true });
    const cli = testCli(await migratedDatabase());
    await cli.run('dbshell');
    expect(cli.out.join('\n')).toMatch(/answer[\s\S]*42/);
    expect(cli.runtimes).toEqual({ opened: 1, closed: 1 });
    await rm(process.env.PATH, { recursive: true, force: true });
  });
});
