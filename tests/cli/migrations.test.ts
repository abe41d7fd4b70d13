import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { migrationNames } from '../../src/db/migrator.js';
import { emptyDatabase, migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { testCli, type TestCli } from './cli-context.js';

const names = migrationNames();
const last = names.at(-1)!;
const secondLast = names.at(-2)!;

describe('strata migrate / showmigrations / rollback', () => {
  let database: TestDatabase;
  let cli: TestCli;

  beforeAll(async () => {
    database = await emptyDatabase();
    cli = testCli(database);
  });

  it('lists every migration as pending on an empty database', async () => {
    expect(await cli.run('showmigrations')).toEqual(names.map((name) => `[ ] ${name}`));
    expect(await cli.run('rollback')).toEqual(['No migrations to revert.']);
  });

  it('migrate applies every migration, then has nothing left to apply', async () => {
    expect(await cli.run('migrate')).toEqual([names.map((name) => `applied ${name}`).join('\n')]);
    expect(await cli.run('showmigrations')).toEqual(names.map((name) => `[X] ${name}`));
    expect(await cli.run('migrate')).toEqual(['No migrations to apply.']);
  });

  it('rollback --steps 2 reverts the two latest, and migrate puts them back', async () => {
    expect(await cli.run('rollback', '--steps', '2')).toEqual([`reverted ${last}\nreverted ${secondLast}`]);
    expect(await cli.run('showmigrations')).toEqual(names.map((name) => `[${[last, secondLast].includes(name) ? ' ' : 'X'}] ${name}`));
    expect(await cli.run('migrate')).toEqual([`applied ${secondLast}\napplied ${last}`]);
  });

  it('rollback without --steps reverts one', async () => {
    expect(await cli.run('rollback')).toEqual([`reverted ${last}`]);
    await cli.run('migrate');
  });

  it.each(['0', '-1', 'two', '1.5'])('rollback --steps %s is VALIDATION_FAILED and reverts nothing', async (steps) => {
    await expect(cli.run('rollback', '--steps', steps)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await cli.run('showmigrations')).toEqual(names.map((name) => `[X] ${name}`));
  });

  it('migrate TARGET goes down to it, and migrate zero reverts everything', async () => {
    expect((await cli.run('migrate', '0003_add_users'))[0]!.split('\n')).toEqual(
      names.slice(3).reverse().map((name) => `reverted ${name}`));
    expect((await cli.run('migrate', 'zero'))[0]!.split('\n')).toEqual(
      ['reverted 0003_add_users', 'reverted 0002_create_tenants', 'reverted 0001_create_app_role']);
    await expect(cli.run('migrate', '0099_unknown')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await cli.run('migrate');
    // On a cluster the way down rebuilds every distributed table on the coordinator (0018).
  }, onCitus() ? 240_000 : undefined);

  it('closes every runtime it opens', () => {
    expect(cli.runtimes.opened).toBeGreaterThan(0);
    expect(cli.runtimes.closed).toBe(cli.runtimes.opened);
  });
});

describe('strata sqlmigrate', () => {
  const cli = testCli({ url: 'postgres://unused@127.0.0.1:1/unused' } as TestDatabase);

  it('prints the statements of a migration, each ending with a semicolon, without a database', async () => {
    const up = await cli.run('sqlmigrate', '0002_create_tenants');
    expect(up.join('\n')).toMatch(/CREATE TABLE tenant \(/);
    for (const statement of up) expect(statement).toMatch(/[^;];$/);
    expect(cli.runtimes.opened).toBe(0);
  });

  it('prints the reverting statements with --down', async () => {
    expect(await cli.run('sqlmigrate', '0002_create_tenants', '--down'))
      .toEqual(['DROP TABLE admin_key; DROP TABLE api_key; DROP TABLE tenant;']);
  });

  it('rejects an unknown migration with VALIDATION_FAILED', async () => {
    await expect(cli.run('sqlmigrate', 'nothing')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('strata makemigrations --check', () => {
  it('passes when the committed row types match the migrated schema', async () => {
    expect(await testCli(await migratedDatabase()).run('makemigrations', '--check'))
      .toEqual(['Row types match the migrated schema.']);
  });

  it('fails with VALIDATION_FAILED when the schema has changed', async () => {
    const database = await migratedDatabase();
    await sql`alter table tenant add column region text`.execute(database.admin);
    await expect(testCli(database).run('makemigrations', '--check')).rejects.toMatchObject({
      code: 'VALIDATION_FAILED', message: expect.stringContaining('strata makemigrations'),
    });
  });
});
