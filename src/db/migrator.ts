import { Migrator, NO_MIGRATIONS, sql, type Kysely, type MigrationResultSet } from 'kysely';
import { migrations } from '../migrations/index.js';
import { StrataError } from '../errors.js';
import { ensureMonthlyPartitions } from './activity-partitions.js';
import { compileOnlyKysely } from './compile-only.js';
import type { Database } from './database.js';
import type { DB } from './schema.generated.js';
import { onCitusCluster } from './distribution.js';

export interface MigrationStatus {
  name: string;
  executedAt: Date | null;
}

function migratorOn(db: Kysely<DB>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => migrations } });
}

/**
 * Runs fn with a migrator. On a Citus cluster its connection works in sequential mode (one
 * connection per node) for the whole run, which the migrator makes one transaction: Citus refuses to
 * change a reference table (etl_run, say) after a statement of the same transaction read or changed
 * a distributed table's shards over several connections, and migrations do both, in either order and
 * across migration boundaries, going up or down. Triggers on distributed tables are allowed too (as
 * migration 0018 allows them for the database): a connection opened before 0018 ran does not carry
 * that database setting, and later migrations create and drop such triggers.
 */
async function withMigrator<T>(database: Database, fn: (migrator: Migrator) => Promise<T>): Promise<T> {
  if (!(await onCitusCluster(database))) return fn(migratorOn(database.admin));
  return database.admin.connection().execute(async (connection) => {
    await sql`set citus.multi_shard_modify_mode = 'sequential'; set citus.enable_unsafe_triggers = on`.execute(connection);
    try {
      return await fn(migratorOn(connection));
    } finally {
      await sql`reset citus.multi_shard_modify_mode; reset citus.enable_unsafe_triggers`.execute(connection).catch(() => undefined);
    }
  });
}

function unwrap(outcome: MigrationResultSet): string[] {
  if (outcome.error) {
    const failed = outcome.results?.find((result) => result.status === 'Error')?.migrationName;
    if (outcome.error instanceof StrataError) throw outcome.error;
    throw new StrataError('MIGRATION_FAILED', `migration ${failed ?? '(unknown)'} failed: ${String((outcome.error as Error).message ?? outcome.error)}`,
      [], { cause: outcome.error });
  }
  return (outcome.results ?? []).filter((result) => result.status === 'Success')
    .map((result) => `${result.direction === 'Up' ? 'applied' : 'reverted'} ${result.migrationName}`);
}

export function migrationNames(): string[] {
  return Object.keys(migrations).sort();
}

function assertKnown(name: string): void {
  if (!(name in migrations)) {
    throw new StrataError('VALIDATION_FAILED', `unknown migration "${name}"; known: ${migrationNames().join(', ')}`);
  }
}

/** Applies pending migrations up to `target` (all when omitted) and creates the coming activity partitions. */
export async function migrate(database: Database, target?: string): Promise<string[]> {
  if (target !== undefined && target !== 'zero') assertKnown(target);
  const done = unwrap(await withMigrator(database, (migrator) => (target === undefined ? migrator.migrateToLatest()
    : migrator.migrateTo(target === 'zero' ? NO_MIGRATIONS : target))));
  await ensureActivityPartitions(database);
  return done;
}

export async function rollback(database: Database, steps = 1): Promise<string[]> {
  if (!Number.isInteger(steps) || steps < 1) {
    throw new StrataError('VALIDATION_FAILED', `--steps must be a positive integer, got ${steps}`);
  }
  const executed = (await showMigrations(database)).filter((migration) => migration.executedAt);
  if (executed.length === 0) return [];
  const keep = executed.length - steps;
  const target = keep <= 0 ? NO_MIGRATIONS : executed[keep - 1]!.name;
  return unwrap(await withMigrator(database, (migrator) => migrator.migrateTo(target)));
}

export async function showMigrations(database: Database): Promise<MigrationStatus[]> {
  const infos = await migratorOn(database.admin).getMigrations();
  return infos.map((info) => ({ name: info.name, executedAt: info.executedAt ?? null }));
}

/**
 * Creates missing monthly partitions of user_activity; a no-op before its migration has run. Rows of
 * a missing month already in the default partition are moved into it (see activity-partitions.ts):
 * the SQL function would fail on them, and with it every start.
 */
export async function ensureActivityPartitions(database: Database): Promise<number> {
  const { rows: [found] } = await sql<{ exists: boolean }>`select to_regclass('user_activity') is not null as exists`.execute(database.admin);
  if (!found?.exists) return 0;
  return (await ensureMonthlyPartitions(database)).created.length;
}

/** The SQL a migration would run, without running it (Django's sqlmigrate). */
export async function sqlForMigration(name: string, direction: 'up' | 'down' = 'up'): Promise<string[]> {
  assertKnown(name);
  const statements: string[] = [];
  // Migrations take Kysely<any>: they are frozen in time, not typed by today's schema.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  const recorder = compileOnlyKysely<any>((query) => statements.push(query.sql.trim()));
  const migration = migrations[name]!;
  await (direction === 'up' ? migration.up(recorder) : migration.down!(recorder));
  await recorder.destroy();
  return statements;
}
