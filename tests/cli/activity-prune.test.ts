import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureMonthlyPartitions, monthStart, partitionName } from '../../src/db/activity-partitions.js';
import { runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { horizonPassed } from '../etl/support.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { testCli, type TestCli } from './cli-context.js';

const MONTHS_BACK = 15;
const ROWS_PER_MONTH = 40;

let database: TestDatabase;
let cli: TestCli;
let tenantId: number;
let userId: number;

beforeAll(async () => {
  database = await migratedDatabase();
  cli = testCli(database);
  const tenant = await createTenant(database);
  tenantId = tenant.id;
  userId = (await createUser(database, tenant.id)).id;
});

/** Fills each of the last MONTHS_BACK months (and this one) with rows, plus rows no partition covers. */
async function fill(): Promise<void> {
  await sql`truncate user_activity`.execute(database.admin);
  await ensureMonthlyPartitions(database, { monthsBack: MONTHS_BACK, monthsAhead: 3 });
  // Rows on the first and the last day of every month: a drop must take whole months, edges included.
  await sql`
    insert into user_activity (tenant_id, user_id, activity_type, created_at)
    select ${tenantId}, ${userId}, 'tick',
      case when g % 2 = 0 then month else month + interval '1 month' - interval '1 microsecond' end
    from generate_series(date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' - ${MONTHS_BACK} * interval '1 month',
                         date_trunc('month', now() at time zone 'UTC') at time zone 'UTC', interval '1 month') month,
      generate_series(1, ${ROWS_PER_MONTH}) g
    where month + interval '1 month' - interval '1 microsecond' <= now() or g % 2 = 0`.execute(database.admin);
  await sql`
    insert into user_activity (tenant_id, user_id, activity_type, created_at)
    select ${tenantId}, ${userId}, 'ancient', timestamptz '2001-01-01' + g * interval '1 day' from generate_series(1, 7) g`.execute(database.admin);
}

/** Rows per partition, by the partition's name (on Citus a row's tableoid is its shard's: user_activity_p2025_09_102115). */
async function rowsPerPartition(): Promise<Record<string, number>> {
  const { rows } = await sql<{ partition: string; rows: number }>`
    select regexp_replace(tableoid::regclass::text, '_[0-9]{6,}$', '') as partition, count(*)::int as rows
    from user_activity group by 1`.execute(database.admin);
  return Object.fromEntries(rows.map((row) => [row.partition, row.rows]));
}

async function cutoff(interval: string): Promise<Date> {
  const { rows } = await sql<{ cutoff: Date }>`select now() - ${interval}::interval as cutoff`.execute(database.admin);
  return rows[0]!.cutoff;
}

/** The monthly partitions whose every instant is before the cutoff: exactly those prune may drop. */
function wholeMonthsBefore(limit: Date): string[] {
  const names: string[] = [];
  for (let offset = -MONTHS_BACK; offset <= 0; offset += 1) {
    if (monthStart(new Date(), offset + 1).getTime() <= limit.getTime()) names.push(partitionName(monthStart(new Date(), offset)));
  }
  return names;
}

describe('strata activity prune', () => {
  it('drops exactly the whole months older than the cutoff, with their rows; every other row stays', async () => {
    await fill();
    const before = await rowsPerPartition();
    const expected = wholeMonthsBefore(await cutoff('12 months'));
    expect(expected.length).toBeGreaterThanOrEqual(3);

    const measured = await database.queries.measure(() => cli.run('activity', 'prune', '--older-than', '12 months', '--drop-uncounted'));
    const printed = measured.result;
    expect(printed.slice(0, -1)).toEqual(expected.map((name) => expect.stringMatching(new RegExp(`^dropped ${name} \\[\\d{4}-\\d{2}-01, \\d{4}-\\d{2}-01\\)$`))));
    expect(printed.at(-1)).toMatch(new RegExp(`^dropped ${expected.length} partitions older than .*; kept user_activity_p\\d{4}_\\d{2} .*which holds the cutoff$`));

    const after = await rowsPerPartition();
    const survivors = Object.fromEntries(Object.entries(before).filter(([name]) => !expected.includes(name)));
    expect(after).toEqual(survivors);
    expect(after.user_activity_default).toBe(7);
    for (const name of expected) {
      const { rows } = await sql<{ table: string | null }>`select to_regclass(${name})::text as table`.execute(database.admin);
      expect(rows[0]!.table, name).toBeNull();
    }
    // Constant time: catalog changes only, never a DELETE of rows.
    expect(measured.statements.filter((statement) => /\bdelete\b/i.test(statement))).toEqual([]);
    expect(measured.statements.filter((statement) => /detach partition/i.test(statement))).toHaveLength(expected.length);
  });

  it('keeps the month that holds the cutoff whole, rows older than the cutoff included', async () => {
    await fill();
    const limit = await cutoff('100 days');
    const holding = partitionName(monthStart(limit));
    const before = await rowsPerPartition();
    await cli.run('activity', 'prune', '--older-than', '100 days', '--drop-uncounted');
    const after = await rowsPerPartition();
    expect(after[holding]).toBe(before[holding]);
    const { rows } = await sql<{ older: number }>`
      select count(*)::int as older from ${sql.table(holding)} where created_at < ${limit}`.execute(database.admin);
    expect(rows[0]!.older).toBeGreaterThan(0);
  });

  it('prints what it would drop in a dry run and drops nothing', async () => {
    await fill();
    const before = await rowsPerPartition();
    const printed = await cli.run('activity', 'prune', '--older-than', '12 months', '--dry-run', '--drop-uncounted');
    expect(printed[0]).toMatch(/^would drop user_activity_p\d{4}_\d{2} /);
    expect(printed.at(-1)).toMatch(/^would drop \d+ partitions older than /);
    expect(await rowsPerPartition()).toEqual(before);
  });

  it('drops nothing when no month is wholly older than the cutoff', async () => {
    await fill();
    const before = await rowsPerPartition();
    expect((await cli.run('activity', 'prune', '--older-than', '100 years')).at(-1)).toMatch(/^dropped 0 partitions older than /);
    expect(await rowsPerPartition()).toEqual(before);
  });

  it.each(['banana', '-3 days', '0 days', '', '2147483648 days'])('refuses --older-than %j with VALIDATION_FAILED and drops nothing', async (interval) => {
    await fill();
    const before = await rowsPerPartition();
    await expect(cli.run('activity', 'prune', '--older-than', interval)).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await rowsPerPartition()).toEqual(before);
  });

  it('refuses to drop rows the analytics pipeline has not counted, naming each partition; nothing is dropped', async () => {
    await fill();
    const before = await rowsPerPartition();
    const expected = wholeMonthsBefore(await cutoff('12 months'));
    for (const args of [[], ['--dry-run']]) {
      const refused = cli.run('activity', 'prune', '--older-than', '12 months', ...args);
      await expect(refused).rejects.toMatchObject({
        code: 'CHECK_VIOLATION',
        message: expect.stringMatching(new RegExp(`^${expected[0]} holds ${before[expected[0]!]} rows, .* not yet counted by the analytics pipeline: run \`strata etl run\` first, or pass --drop-uncounted`)),
        details: expected.map((name) => ({ path: name, message: `${before[name]} uncounted rows` })),
      });
    }
    expect(await rowsPerPartition()).toEqual(before);
  });

  it('refuses a row still being written when it checked: the detach waits for it, then counts again and drops nothing', async () => {
    await fill();
    await horizonPassed(database);
    expect(await runPipeline(database)).toMatchObject({ status: 'succeeded' });
    const oldest = wholeMonthsBefore(await cutoff('12 months'));
    const before = await rowsPerPartition();
    const writer = new pg.Client({ connectionString: database.url });
    await writer.connect();
    try {
      await writer.query('begin');
      await writer.query(`insert into user_activity (tenant_id, user_id, activity_type, created_at) values ($1, $2, 'late', $3)`,
        [tenantId, userId, monthStart(new Date(), -MONTHS_BACK)]);
      const prune = cli.run('activity', 'prune', '--older-than', '12 months');
      prune.catch(() => undefined);
      // The check has passed (it cannot see the uncommitted row) once the detach waits for the writer.
      for (let waited = 0; ; waited += 1) {
        const { rows } = await sql<{ waiting: number }>`select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query ilike '%detach partition%'`.execute(database.admin);
        if (rows[0]!.waiting > 0) break;
        if (waited > 500) throw new Error('the prune never waited for the writer');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await writer.query('commit');
      await expect(prune).rejects.toMatchObject({ code: 'CHECK_VIOLATION', details: [{ path: oldest[0], message: '1 uncounted rows' }] });
    } finally {
      await writer.end();
    }
    expect(await rowsPerPartition()).toEqual({ ...before, [oldest[0]!]: before[oldest[0]!]! + 1 });
  });

  it('drops them once a pipeline run has counted them, and refuses rows written after that run', async () => {
    await fill();
    await horizonPassed(database);
    expect(await runPipeline(database)).toMatchObject({ status: 'succeeded' });
    const oldest = wholeMonthsBefore(await cutoff('12 months'));
    // A late row dated in an old month: written after the run, so not counted yet.
    await sql`insert into user_activity (tenant_id, user_id, activity_type, created_at)
      values (${tenantId}, ${userId}, 'late', ${monthStart(new Date(), -MONTHS_BACK)})`.execute(database.admin);
    await expect(cli.run('activity', 'prune', '--older-than', '12 months')).rejects.toMatchObject({
      code: 'CHECK_VIOLATION', details: [{ path: oldest[0], message: '1 uncounted rows' }],
    });
    await horizonPassed(database);
    expect(await runPipeline(database)).toMatchObject({ status: 'succeeded' });
    expect((await cli.run('activity', 'prune', '--older-than', '12 months')).at(-1)).toMatch(new RegExp(`^dropped ${oldest.length} partitions`));
  });
});
