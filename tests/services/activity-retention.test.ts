import { beforeAll, describe, expect, it } from 'vitest';
import { ensureMonthlyPartitions, monthStart, partitionName } from '../../src/db/activity-partitions.js';
import { openDatabase } from '../../src/db/database.js';
import { cutoffFor, partitionsAround, pruneActivityPartitions } from '../../src/services/activity-retention.js';
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

describe('partitionsAround', () => {
  const month = (year: number, index: number) => new Date(Date.UTC(year, index, 1));
  const defaultPartition = { name: 'user_activity_default', from: null, to: null };
  const january = { name: 'user_activity_2026_01', from: month(2026, 0), to: month(2026, 1) };
  const february = { name: 'user_activity_2026_02', from: month(2026, 1), to: month(2026, 2) };
  const march = { name: 'user_activity_2026_03', from: month(2026, 2), to: month(2026, 3) };
  const partitions = [january, february, march, defaultPartition];
  const at = (cutoff: Date) => partitionsAround(partitions, cutoff);

  it('at a cutoff on a month boundary drops the month ending there and keeps the one starting there, straddling nothing', () => {
    expect(at(month(2026, 1))).toEqual({ dropped: [january], straddling: null });
    expect(at(month(2026, 2))).toEqual({ dropped: [january, february], straddling: null });
  });

  it('a millisecond either side of a boundary: the month holding the cutoff straddles it and is not dropped', () => {
    expect(at(new Date(month(2026, 1).getTime() - 1))).toEqual({ dropped: [], straddling: january });
    expect(at(new Date(month(2026, 1).getTime() + 1))).toEqual({ dropped: [january], straddling: february });
    expect(at(new Date(Date.UTC(2026, 1, 15)))).toEqual({ dropped: [january], straddling: february });
  });

  it('never drops nor keeps the default partition, even past every month', () => {
    expect(at(month(2027, 0))).toEqual({ dropped: [january, february, march], straddling: null });
    expect(at(month(2025, 0))).toEqual({ dropped: [], straddling: null });
  });
});
