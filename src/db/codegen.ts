import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { generate, PostgresDialect as CodegenPostgresDialect } from 'kysely-codegen';
import type { Database } from './database.js';

export const generatedSchemaPath = fileURLToPath(new URL('./schema.generated.ts', import.meta.url));

/** Row types of the migrated schema, as kysely-codegen prints them for this database's parsers. */
export async function renderSchemaTypes(database: Database): Promise<string> {
  const source = await generate({
    // kysely-codegen resolves its own copy of kysely; the instance is structurally the same.
    db: database.admin as never,
    dialect: new CodegenPostgresDialect(),
    // Matches the pg type parsers in database.ts: int8 and numeric as numbers, date as a string.
    typeMapping: { int8: 'number', numeric: 'number', date: 'string' },
    // Only Kysely's bookkeeping and the two views the citus extension puts in public: kysely-codegen
    // already leaves partitions out, and a wider pattern (say user_activity_* or citus_*) would
    // silently drop a future table from the types and from the check.
    excludePattern: '{kysely_migration*,citus_tables,citus_schemas}',
    print: false,
    outFile: null,
    logger: undefined,
  });
  return source;
}

export interface SchemaCheck {
  upToDate: boolean;
  expected: string;
  actual: string;
}

/** Compares the committed row types with the migrated schema (Django's makemigrations --check). */
export async function checkSchemaTypes(database: Database, path = generatedSchemaPath): Promise<SchemaCheck> {
  const expected = await renderSchemaTypes(database);
  const actual = await readFile(path, 'utf8').catch(() => '');
  return { upToDate: expected === actual, expected, actual };
}

export async function writeSchemaTypes(database: Database, path = generatedSchemaPath): Promise<void> {
  await writeFile(path, await renderSchemaTypes(database));
}
