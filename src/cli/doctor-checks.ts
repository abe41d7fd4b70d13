import { sql } from 'kysely';
import {
  DEFAULT_PARTITION, MONTHS_AHEAD, MONTHS_BACK, listActivityPartitions, missingMonths, partitionName,
} from '../db/activity-partitions.js';
import type { Database } from '../db/database.js';
import { describeDistribution } from '../db/distribution.js';
import { showMigrations } from '../db/migrator.js';
import { pipelineStatus } from '../etl/user-analytics/pipeline.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
}

const month = (at: Date) => at.toISOString().slice(0, 7);

async function migrationsCheck(database: Database): Promise<Check> {
  const pending = (await showMigrations(database)).filter((migration) => !migration.executedAt).map((migration) => migration.name);
  return pending.length === 0
    ? { name: 'migrations', status: 'ok', detail: 'all applied' }
    : { name: 'migrations', status: 'fail', detail: `${pending.length} pending: ${pending.join(', ')} (run \`strata migrate\`)` };
}

async function defaultPartitionCheck(database: Database): Promise<Check> {
  const { rows: [found] } = await sql<{ rows: number; oldest: Date | null; newest: Date | null }>`
    select count(*)::int as rows, min(created_at) as oldest, max(created_at) as newest from ${sql.table(DEFAULT_PARTITION)}`.execute(database.admin);
  if (!found?.rows) return { name: 'default partition', status: 'ok', detail: 'no rows outside the monthly partitions' };
  return {
    name: 'default partition',
    status: 'fail',
    detail: `${found.rows} rows outside every monthly partition, ${month(found.oldest!)} to ${month(found.newest!)}: they are read `
      + 'without partition pruning and kept from retention; `strata activity partitions --months-back N` moves them into their months',
  };
}

async function comingPartitionsCheck(database: Database): Promise<Check> {
  const missing = await missingMonths(database.admin);
  const window = `${MONTHS_BACK} month back to ${MONTHS_AHEAD} ahead`;
  return missing.length === 0
    ? { name: 'coming partitions', status: 'ok', detail: `every month from ${window} has its partition` }
    : {
      name: 'coming partitions',
      status: 'fail',
      detail: `missing ${missing.map(partitionName).join(', ')}: their rows would land in the default partition `
        + '(the daily job or `strata activity partitions` creates them)',
    };
}

async function partitionsSummary(database: Database): Promise<Check> {
  const monthly = (await listActivityPartitions(database.admin)).filter((partition) => partition.from !== null);
  const span = monthly.length ? `, ${month(monthly[0]!.from!)} to ${month(new Date(monthly.at(-1)!.to!.getTime() - 1))}` : '';
  return { name: 'activity partitions', status: 'ok', detail: `${monthly.length} monthly${span}` };
}

async function invalidIndexesCheck(database: Database): Promise<Check> {
  const { rows } = await sql<{ name: string }>`
    select indexrelid::regclass::text as name from pg_index
    join pg_class on pg_class.oid = pg_index.indexrelid join pg_namespace n on n.oid = pg_class.relnamespace
    where not indisvalid and n.nspname = 'public' order by 1`.execute(database.admin);
  return rows.length === 0
    ? { name: 'indexes', status: 'ok', detail: 'all valid' }
    : { name: 'indexes', status: 'fail', detail: `invalid (a failed CREATE INDEX CONCURRENTLY?): ${rows.map((row) => row.name).join(', ')}` };
}

async function ginUnderRlsCheck(database: Database): Promise<Check> {
  const { rows: [found] } = await sql<{ leakproof: boolean }>`
    select proleakproof as leakproof from pg_proc where oid = 'jsonb_contains(jsonb, jsonb)'::regprocedure`.execute(database.admin);
  return found?.leakproof
    ? { name: 'metadata search', status: 'ok', detail: 'jsonb @> is leakproof: the GIN index serves tenant queries' }
    : { name: 'metadata search', status: 'warn', detail: 'jsonb @> is not leakproof (migrated without a superuser): metadata filters scan the tenant\'s rows' };
}

async function etlCheck(database: Database): Promise<Check> {
  const status = await pipelineStatus(database, { limit: 1 });
  const detail = `last success ${status.lastSucceededAt?.toISOString() ?? 'never'}; pending ${status.pending.user_activity} activities, `
    + `${status.pending.event} events; ${status.failuresSinceLastSuccess} failed runs since`;
  return { name: 'analytics pipeline', status: status.failuresSinceLastSuccess > 0 ? 'warn' : 'ok', detail };
}

async function distributionCheck(database: Database): Promise<Check> {
  const distribution = await describeDistribution(database.admin);
  if (distribution.mode === 'single-server') return { name: 'distribution', status: 'ok', detail: 'single server (no citus extension)' };
  const summary = `Citus, ${distribution.workers} worker${distribution.workers === 1 ? '' : 's'}; ${distribution.distributed.length} tables `
    + `distributed by tenant_id, ${distribution.reference.length} reference tables`;
  if (distribution.misplaced.length === 0) return { name: 'distribution', status: 'ok', detail: summary };
  const wrong = distribution.misplaced.map((table) => `${table.table} (${table.actual}; should be ${table.expected})`).join(', ');
  return { name: 'distribution', status: 'fail', detail: `${summary}; not placed as they should be: ${wrong} (run \`strata migrate\`)` };
}

async function idempotencyCheck(database: Database): Promise<Check> {
  const { rows: [found] } = await sql<{ keys: number; oldest: Date | null }>`
    select count(*)::int as keys, min(created_at) as oldest from idempotency_key`.execute(database.admin);
  return { name: 'idempotency keys', status: 'ok', detail: `${found!.keys} stored${found!.oldest ? `, oldest ${found!.oldest.toISOString()}` : ''}` };
}

/** The health facts `strata doctor` prints; a 'fail' makes it exit non-zero. */
export async function diagnose(database: Database): Promise<Check[]> {
  const migrations = await migrationsCheck(database);
  // Before the schema exists, the other checks have nothing to read.
  const { rows: [schema] } = await sql<{ ready: boolean }>`select to_regclass('user_activity') is not null as ready`.execute(database.admin);
  if (!schema?.ready) return [migrations];
  return [
    migrations,
    await distributionCheck(database),
    await defaultPartitionCheck(database),
    await comingPartitionsCheck(database),
    await partitionsSummary(database),
    await invalidIndexesCheck(database),
    await ginUnderRlsCheck(database),
    await etlCheck(database),
    await idempotencyCheck(database),
  ];
}
