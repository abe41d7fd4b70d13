import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './database.js';
import type { Job } from './jobs.js';
import type { DB } from './schema.generated.js';
import { translateDatabaseError } from '../errors.js';

/** Months made ahead of the current one (UTC), as `ensure_user_activity_partitions()` does at start. */
export const MONTHS_AHEAD = 3;
export const MONTHS_BACK = 1;
export const DEFAULT_PARTITION = 'user_activity_default';

export const PARTITIONS_QUEUE = 'activity-partitions';
/** 00:05 UTC daily: the coming months exist well before their first row. */
export const PARTITIONS_CRON = '5 0 * * *';

export interface ActivityPartition {
  name: string;
  /** Inclusive lower bound; null for the default partition. */
  from: Date | null;
  /** Exclusive upper bound; null for the default partition. */
  to: Date | null;
}

/**
 * The partitions of user_activity with their bounds, oldest first and the default last. Bounds are
 * read from the catalog (pg_get_expr of relpartbound) and cast back by PostgreSQL, so they are exact
 * whatever the partitions are named.
 */
export async function listActivityPartitions(db: Kysely<DB>): Promise<ActivityPartition[]> {
  const { rows } = await sql<ActivityPartition>`
    select name, bound[1]::timestamptz as "from", bound[2]::timestamptz as "to"
    from (
      select c.relname::text as name,
        regexp_match(pg_get_expr(c.relpartbound, c.oid), '^FOR VALUES FROM \\(''([^'']+)''\\) TO \\(''([^'']+)''\\)$') as bound
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'user_activity'::regclass
    ) partitions
    order by "from" nulls last, name`.execute(db);
  return rows;
}

/** The first instant (UTC) of the month `offset` months from the one holding `at`. */
export function monthStart(at: Date, offset = 0): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + offset, 1));
}

export function partitionName(month: Date): string {
  return `user_activity_p${month.getUTCFullYear()}_${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The months from `monthsBack` before to `monthsAhead` after the current one that no partition covers. */
export async function missingMonths(db: Kysely<DB>, options: { monthsAhead?: number; monthsBack?: number; now?: Date } = {}): Promise<Date[]> {
  const now = options.now ?? new Date();
  const partitions = await listActivityPartitions(db);
  const missing: Date[] = [];
  for (let offset = -(options.monthsBack ?? MONTHS_BACK); offset <= (options.monthsAhead ?? MONTHS_AHEAD); offset += 1) {
    const month = monthStart(now, offset);
    const covered = partitions.some((partition) => partition.from !== null && partition.to !== null
      && partition.from.getTime() <= month.getTime() && month.getTime() < partition.to.getTime());
    if (!covered) missing.push(month);
  }
  return missing;
}

async function withLockTimeout<T>(database: Database, fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
  try {
    return await database.admin.transaction().execute(async (trx) => {
      // DETACH and CREATE … PARTITION OF lock the parent: wait a bounded time behind long readers
      // instead of queueing every insert behind this statement.
      await sql`set local lock_timeout = '10s'`.execute(trx);
      return fn(trx);
    });
  } catch (error) {
    throw translateDatabaseError(error);
  }
}

/**
 * Creates one month's partition. Rows of that month already in the default partition would make
 * PostgreSQL refuse it ("updated partition constraint for default partition would be violated"),
 * so they are moved into it in the same transaction: detach the default, create the month, move its
 * rows, reattach. Returns how many rows moved.
 */
async function createMonth(database: Database, month: Date): Promise<number> {
  const from = month.toISOString();
  const to = monthStart(month, 1).toISOString();
  const name = partitionName(month);
  return withLockTimeout(database, async (trx) => {
    const { rows: [waiting] } = await sql<{ rows: number }>`
      select count(*)::int as rows from ${sql.table(DEFAULT_PARTITION)} where created_at >= ${from}::timestamptz and created_at < ${to}::timestamptz`
      .execute(trx);
    if (!waiting?.rows) {
      await sql`create table ${sql.table(name)} partition of user_activity for values from (${sql.lit(from)}) to (${sql.lit(to)})`.execute(trx);
      return 0;
    }
    await sql`alter table user_activity detach partition ${sql.table(DEFAULT_PARTITION)}`.execute(trx);
    await sql`create table ${sql.table(name)} partition of user_activity for values from (${sql.lit(from)}) to (${sql.lit(to)})`.execute(trx);
    // Partitions made with PARTITION OF share the parent's column order, so whole rows move as they are.
    await sql`insert into ${sql.table(name)} select * from ${sql.table(DEFAULT_PARTITION)}
      where created_at >= ${from}::timestamptz and created_at < ${to}::timestamptz`.execute(trx);
    await sql`delete from ${sql.table(DEFAULT_PARTITION)} where created_at >= ${from}::timestamptz and created_at < ${to}::timestamptz`.execute(trx);
    await sql`alter table user_activity attach partition ${sql.table(DEFAULT_PARTITION)} default`.execute(trx);
    return waiting.rows;
  });
}

export interface EnsureResult {
  created: string[];
  /** Rows moved out of the default partition into a month created for them. */
  moved: number;
}

/** Creates the partitions of the coming (and last) months that do not exist yet; the daily job. */
export async function ensureMonthlyPartitions(database: Database, options: { monthsAhead?: number; monthsBack?: number; now?: Date } = {}): Promise<EnsureResult> {
  const result: EnsureResult = { created: [], moved: 0 };
  for (const month of await missingMonths(database.admin, options)) {
    result.moved += await createMonth(database, month);
    result.created.push(partitionName(month));
  }
  return result;
}

/**
 * Detaches one partition, runs `check` under the detach's lock in the same transaction, and drops
 * it: the drop is a catalog change and a file unlink, whatever the rows. A check that throws rolls
 * the detach back and leaves the partition in place.
 */
export async function dropActivityPartition(database: Database, partition: ActivityPartition,
  check: (trx: Transaction<DB>) => Promise<void>): Promise<void> {
  await withLockTimeout(database, async (trx) => {
    await sql`alter table user_activity detach partition ${sql.table(partition.name)}`.execute(trx);
    await check(trx);
    await sql`drop table ${sql.table(partition.name)}`.execute(trx);
  });
}

/**
 * The partition job, daily, as a 'stately' queue with a cron schedule: with N API instances, one job
 * per day still runs once.
 */
export function partitionMaintenanceJob(database: Database): Job {
  return {
    queue: { name: PARTITIONS_QUEUE, policy: 'stately', retryLimit: 3, retryDelay: 600, expireInSeconds: 3600 },
    cron: PARTITIONS_CRON,
    handler: () => ensureMonthlyPartitions(database),
  };
}
