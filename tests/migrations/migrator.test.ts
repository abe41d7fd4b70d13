import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ensureActivityPartitions, migrate, migrationNames, rollback, showMigrations, sqlForMigration,
} from '../../src/db/migrator.js';
import { migrations } from '../../src/migrations/index.js';
import { emptyDatabase, migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';

const migrationsDir = fileURLToPath(new URL('../../src/migrations/', import.meta.url));

async function migrationFiles(): Promise<string[]> {
  return (await readdir(migrationsDir)).filter((file) => file !== 'index.ts').sort();
}

describe('src/migrations', () => {
  it('holds only NNNN_purpose.ts files, numbered without gaps', async () => {
    const files = await migrationFiles();
    for (const file of files) expect(file).toMatch(/^\d{4}_[a-z0-9_]+\.ts$/);
    expect(files.map((file) => Number(file.slice(0, 4)))).toEqual(files.map((_, index) => index + 1));
  });

  it('is listed exactly, file for file, in index.ts', async () => {
    const files = await migrationFiles();
    expect(Object.keys(migrations).map((name) => `${name}.ts`)).toEqual(files);
    const index = await readFile(`${migrationsDir}index.ts`, 'utf8');
    for (const file of files) expect(index, file).toContain(`from './${file.replace(/\.ts$/, '.js')}'`);
  });

  it('maps each name to the module of the file with that name', async () => {
    for (const [name, migration] of Object.entries(migrations)) {
      expect(await import(`${migrationsDir}${name}.ts`), name).toBe(migration);
    }
  });

  it('gives every migration an up and a down', () => {
    for (const [name, migration] of Object.entries(migrations)) {
      expect(typeof migration.up, name).toBe('function');
      expect(typeof migration.down, name).toBe('function');
    }
  });
});

describe('sqlForMigration', () => {
  it('prints the statements of up and of down without running them', async () => {
    const up = await sqlForMigration('0002_create_tenants');
    const down = await sqlForMigration('0002_create_tenants', 'down');
    expect(up.join('\n')).toMatch(/CREATE TABLE tenant \(/);
    expect(up.join('\n')).not.toMatch(/DROP TABLE/);
    expect(down.join('\n')).toMatch(/DROP TABLE admin_key; DROP TABLE api_key; DROP TABLE tenant;/);
  });

  it('has SQL in both directions for every migration', async () => {
    for (const name of migrationNames()) {
      expect((await sqlForMigration(name, 'up')).join('').length, `${name} up`).toBeGreaterThan(0);
      expect((await sqlForMigration(name, 'down')).join('').length, `${name} down`).toBeGreaterThan(0);
    }
  });

  it('prints one statement per trigger for the audit migration', async () => {
    const up = await sqlForMigration('0009_add_audit');
    expect(up.filter((statement) => /^CREATE TRIGGER \w+_audit/.test(statement))).toHaveLength(11);
  });

  it('rejects an unknown name with VALIDATION_FAILED, naming the known ones', async () => {
    await expect(sqlForMigration('0099_nothing')).rejects.toMatchObject({
      code: 'VALIDATION_FAILED', message: expect.stringContaining('0001_create_app_role'),
    });
  });
});

describe('migrate and rollback', () => {
  let database: TestDatabase;

  beforeAll(async () => {
    database = await emptyDatabase();
  });

  it('does nothing to roll back on a database without migrations', async () => {
    expect(await rollback(database, 3)).toEqual([]);
    expect(await ensureActivityPartitions(database)).toBe(0);
  });

  it('rejects a step count that is not a positive integer', async () => {
    for (const steps of [0, -1, 1.5]) {
      await expect(rollback(database, steps), String(steps)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    }
  });

  it('rejects an unknown target before touching the database', async () => {
    await expect(migrate(database, '0042_unknown')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect((await showMigrations(database)).some((migration) => migration.executedAt)).toBe(false);
  });

  it('migrates to a target, reports what it did, and rolls back by steps', async () => {
    expect(await migrate(database, '0003_add_users')).toEqual(
      ['applied 0001_create_app_role', 'applied 0002_create_tenants', 'applied 0003_add_users']);
    expect(await rollback(database, 2)).toEqual(['reverted 0003_add_users', 'reverted 0002_create_tenants']);
    const applied = (await showMigrations(database)).filter((migration) => migration.executedAt).map((m) => m.name);
    expect(applied).toEqual(['0001_create_app_role']);
    expect(await migrate(database, 'zero')).toEqual(['reverted 0001_create_app_role']);
  });

  it('creates the coming months\' activity partitions when migrating, and none twice', async () => {
    const thisMonth = `user_activity_p${new Date().toISOString().slice(0, 7).replace('-', '_')}`;
    await migrate(database);
    await sql`drop table ${sql.table(thisMonth)}`.execute(database.admin);
    expect(await migrate(database)).toEqual([]);
    expect(await ensureActivityPartitions(database)).toBe(0);
    const { rows } = await sql<{ name: string }>`select relname as name from pg_inherits
      join pg_class on pg_class.oid = inhrelid where inhparent = 'user_activity'::regclass`.execute(database.admin);
    expect(rows.map((row) => row.name)).toContain(thisMonth);
    await migrate(database, 'zero');
    // On a cluster the way down rebuilds every distributed table on the coordinator (0018).
  }, onCitus() ? 300_000 : undefined);

  it('reports a failing migration as MIGRATION_FAILED with its name, and applies nothing of it', async () => {
    await migrate(database, '0001_create_app_role');
    await sql`create table tenant (id int)`.execute(database.admin);
    await expect(migrate(database, '0002_create_tenants')).rejects.toMatchObject({
      code: 'MIGRATION_FAILED', message: expect.stringMatching(/^migration 0002_create_tenants failed: .*"tenant" already exists/),
    });
    const { rows } = await sql<{ found: string | null }>`select to_regclass('api_key')::text as found`.execute(database.admin);
    expect(rows[0]!.found).toBeNull();
    await sql`drop table tenant`.execute(database.admin);
    await migrate(database, 'zero');
  });
});

describe('showMigrations', () => {
  it('lists every migration as applied on a migrated database', async () => {
    const database = await migratedDatabase();
    const status = await showMigrations(database);
    expect(status.map((migration) => migration.name)).toEqual(migrationNames());
    for (const migration of status) expect(migration.executedAt, migration.name).toBeInstanceOf(Date);
  });
});
