import { readFile } from 'node:fs/promises';
import { CommanderError } from 'commander';
import { describe, expect, it, vi } from 'vitest';
import { defaultContext } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config.js';
import type { TestDatabase } from '../helpers/database.js';
import { testCli } from './cli-context.js';

const cli = testCli({ url: 'postgres://unused@127.0.0.1:1/unused' } as TestDatabase);

describe('the strata program', () => {
  it('offers Django\'s command names', () => {
    const commands = cli.program().commands.map((command) => command.name());
    expect(commands).toEqual(expect.arrayContaining(
      ['serve', 'migrate', 'rollback', 'showmigrations', 'sqlmigrate', 'makemigrations', 'tenants', 'dbshell']));
  });

  it('prints the package\'s version with --version, without opening the database', async () => {
    const { version } = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    await expect(cli.run('--version')).rejects.toMatchObject({ code: 'commander.version', exitCode: 0 });
    expect(cli.out).toEqual([version]);
    expect(cli.runtimes.opened).toBe(0);
  });

  it('refuses an unknown command without opening the database', async () => {
    const failure = await cli.run('migrat').then(() => null, (error: unknown) => error);
    expect(failure).toBeInstanceOf(CommanderError);
    expect(cli.err.join('\n')).toMatch(/unknown command 'migrat'/);
    expect(cli.runtimes.opened).toBe(0);
  });
});

describe('defaultContext', () => {
  it('reads the config from the environment once loaded, and prints lines to stdout and stderr', async () => {
    const context = defaultContext();
    expect(() => context.config).toThrow(/loadConfig/);
    await context.loadConfig();
    expect(context.config).toEqual(loadConfig());
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      context.out('to stdout');
      context.err('to stderr');
      expect(stdout).toHaveBeenCalledWith('to stdout\n');
      expect(stderr).toHaveBeenCalledWith('to stderr\n');
    } finally {
      vi.restoreAllMocks();
    }
  });
});
