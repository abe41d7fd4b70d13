import { beforeAll, describe, expect, it } from 'vitest';
import { ensureMonthlyPartitions, monthStart, partitionName } from '../../src/db/activity-partitions.js';
import { openDatabase } from '../../src/db/database.js';
import { cutoffFor, pruneActivityPartitions } from '../../src/services/activity-retention.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

describe('cutoffFor', () => {
  it('refuses what is not a positive interval with VALIDATION_FAILED on older-than', async () => {
    for (const interval of ['0 days', '-3 months', 'soon']) {
      await expect(cutoffFor(database.admin, interval)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: `--older-than must be a positive interval such as "90 days" or "12 months", got "${interval}"`,
        details: [{ path: 'older-than', message: 'not a positive interval' }],
      });
    }
  });

  it('passes on a database failure as it is, not as bad input', async () => {
    const unreachable = openDatabase('postgres://root@127.0.0.1:1/postgres', { maxConnections: 1 });
    atFileEnd(() => unreachable.close());
    const error = await cutoffFor(unreachable.admin, '90 days').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    expect((error as { code?: string }).code).not.toBe('VALIDATION_FAILED');
  });
});

describe('pruneActivityPartitions', () => {
  it('names the partition holding the cutoff as kept, and drops only months wholly before it', async () => {
    // Months on both sides of the cutoff, so the one holding it is neither the first nor the last.
    await ensureMonthlyPartitions(database, { monthsBack: 4 });
    const result = await pruneActivityPartitions(database, '1 month', { dryRun: true, dropUncounted: true });
    const holding = monthStart(result.cutoff);
    expect(result.straddling).toEqual({ name: partitionName(holding), from: holding, to: monthStart(holding, 1) });
    expect(result.dropped.every((partition) => partition.to!.getTime() <= result.cutoff.getTime())).toBe(true);
    expect(result.dropped.map((partition) => partition.name)).not.toContain(partitionName(holding));
  });
});
