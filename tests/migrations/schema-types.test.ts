import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSchemaTypes, generatedSchemaPath, renderSchemaTypes, writeSchemaTypes } from '../../src/db/codegen.js';
import { migratedDatabase } from '../helpers/database.js';

const scratch = await mkdtemp(join(tmpdir(), 'strata-codegen-'));
afterAll(() => rm(scratch, { recursive: true, force: true }));

describe('src/db/schema.generated.ts', () => {
  it('is exactly what the migrated schema generates', async () => {
    const result = await checkSchemaTypes(await migratedDatabase());
    expect(result.actual).toBe(await readFile(generatedSchemaPath, 'utf8'));
    // Compared as text first: a mismatch then shows as a line diff, not just `false`.
    expect(result.expected).toBe(result.actual);
    expect(result.upToDate).toBe(true);
  });

  it('types every Strata table and no partition or migration bookkeeping', async () => {
    const source = await renderSchemaTypes(await migratedDatabase());
    const tables = [...source.matchAll(/^ {2}(\w+): \w+;$/gm)].map((match) => match[1]);
    expect(tables).toEqual(expect.arrayContaining(['tenant', 'app_user', 'user_activity', 'audit_log']));
    expect(tables.filter((table) => /^kysely_|^user_activity_(p\d|default)/.test(table!))).toEqual([]);
  });
});

describe('checkSchemaTypes', () => {
  it('reports a column the committed types do not have', async () => {
    const database = await migratedDatabase();
    await sql`alter table product add column colour text`.execute(database.admin);
    const result = await checkSchemaTypes(database);
    expect(result.upToDate).toBe(false);
    expect(result.expected).toMatch(/^ {2}colour: string \| null;$/m);
  });

  // A table whose name merely starts like the activity partitions is a table like any other.
  it('reports a new table named like the activity partitions', async () => {
    const database = await migratedDatabase();
    await sql`create table user_activity_summary (tenant_id bigint not null, day date not null)`.execute(database.admin);
    const result = await checkSchemaTypes(database);
    expect(result.upToDate).toBe(false);
    expect(result.expected).toMatch(/^ {2}user_activity_summary: UserActivitySummary;$/m);
  });

  it('reports a missing committed file as out of date', async () => {
    const result = await checkSchemaTypes(await migratedDatabase(), join(scratch, 'missing.ts'));
    expect(result).toMatchObject({ upToDate: false, actual: '' });
  });

  it('writes what it renders, and then finds the file up to date', async () => {
    const database = await migratedDatabase();
    const target = join(scratch, 'schema.generated.ts');
    await writeSchemaTypes(database, target);
    expect(await readFile(target, 'utf8')).toBe(await renderSchemaTypes(database));
    expect((await checkSchemaTypes(database, target)).upToDate).toBe(true);
  });
});
