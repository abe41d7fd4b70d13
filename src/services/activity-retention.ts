import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { dropActivityPartition, listActivityPartitions, type ActivityPartition } from '../db/activity-partitions.js';
import type { DB } from '../db/schema.generated.js';
import { StrataError, translateDatabaseError } from '../errors.js';
import { lastWatermark, PIPELINE, uncountedRowsIn } from '../repositories/pipeline-watermark.js';

export interface PruneResult {
  cutoff: Date;
  /** Whole partitions older than the cutoff, detached and dropped (or that would be, in a dry run). */
  dropped: ActivityPartition[];
  /** The partition holding the cutoff, kept whole. */
  straddling: ActivityPartition | null;
}

/** `now() - interval`, as PostgreSQL reads the interval; refuses what is not a positive interval. */
export async function cutoffFor(db: Kysely<DB>, olderThan: string): Promise<Date> {
  try {
    const { rows: [row] } = await sql<{ cutoff: Date; positive: boolean }>`
      select now() - ${olderThan}::interval as cutoff, ${olderThan}::interval > interval '0' as positive`.execute(db);
    if (row!.positive) return row!.cutoff;
  } catch (error) {
    if ((translateDatabaseError(error) as StrataError).code !== 'VALIDATION_FAILED') throw error;
  }
  throw new StrataError('VALIDATION_FAILED', `--older-than must be a positive interval such as "90 days" or "12 months", got "${olderThan}"`,
    [{ path: 'older-than', message: 'not a positive interval' }]);
}

/** Rows of each partition that the analytics pipeline has not counted yet: at or after its watermark on their node. */
async function uncountedRows(db: Kysely<DB>, partitions: readonly ActivityPartition[]): Promise<Array<{ name: string; rows: number }>> {
  const { xids } = await lastWatermark(db, PIPELINE);
  const found: Array<{ name: string; rows: number }> = [];
  for (const partition of partitions) {
    const rows = await uncountedRowsIn(db, partition.name, xids);
    if (rows > 0) found.push({ name: partition.name, rows });
  }
  return found;
}

/**
 * Sorts the monthly partitions against the cutoff: those whose exclusive upper bound is at or before
 * it hold only older rows and may be dropped; the one whose range holds the cutoff strictly inside it
 * straddles it and is kept whole. The default partition (no bounds) is neither.
 */
export function partitionsAround(partitions: readonly ActivityPartition[], cutoff: Date): Omit<PruneResult, 'cutoff'> {
  const bounded = partitions.filter((partition) => partition.from !== null && partition.to !== null);
  const dropped = bounded.filter((partition) => partition.to!.getTime() <= cutoff.getTime());
  const straddling = bounded.find((partition) => partition.from!.getTime() < cutoff.getTime() && cutoff.getTime() < partition.to!.getTime()) ?? null;
  return { dropped, straddling };
}

/**
 * Retention: detaches and drops every monthly partition whose rows are all older than `olderThan`
 * ago. Nothing is deleted row by row. The default partition and the partition holding the cutoff
 * are never touched.
 *
 * A partition holding rows the analytics pipeline has not counted yet is refused (CHECK_VIOLATION,
 * nothing dropped): once dropped, they could never be counted. `dropUncounted` drops them anyway,
 * for a deployment that does not run the pipeline.
 */
export async function pruneActivityPartitions(database: Database, olderThan: string, options: { dryRun?: boolean; dropUncounted?: boolean } = {}): Promise<PruneResult> {
  const cutoff = await cutoffFor(database.admin, olderThan);
  const { dropped, straddling } = partitionsAround(await listActivityPartitions(database.admin), cutoff);
  const refuseUncounted = async (db: Kysely<DB>, candidates: readonly ActivityPartition[]) => {
    const uncounted = options.dropUncounted ? [] : await uncountedRows(db, candidates);
    if (uncounted.length > 0) {
      throw new StrataError('CHECK_VIOLATION',
        `${uncounted.map(({ name, rows }) => `${name} holds ${rows} rows`).join(', ')} not yet counted by the analytics pipeline: `
        + 'run `strata etl run` first, or pass --drop-uncounted to lose them from analytics', uncounted.map(({ name, rows }) => ({ path: name, message: `${rows} uncounted rows` })));
    }
  };
  await refuseUncounted(database.admin, dropped);
  if (!options.dryRun) {
    // Counted again under the detach's lock: a row committed since the check above, or still
    // being written then (the detach waited for it), is here now, and the detach rolls back.
    for (const partition of dropped) await dropActivityPartition(database, partition, (trx) => refuseUncounted(trx, [partition]));
  }
  return { cutoff, dropped, straddling };
}
