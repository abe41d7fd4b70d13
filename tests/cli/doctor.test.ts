import { CommanderError } from 'commander';
import { sql } from 'kysely';
import { beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { diagnose } from '../../src/cli/doctor-checks.js';
import { ensureMonthlyPartitions, monthStart, partitionName } from '../../src/db/activity-partitions.js';
import { emptyDatabase, migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { testCli, type TestCli } from './cli-context.js';

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

beforeEach(async () => {
  await sql`truncate user_activity`.execute(database.admin);
  await ensureMonthlyPartitions(database);
});

async function insertAt(...times: string[]) {
  await sql`insert into user_activity (tenant_id, user_id, activity_type, created_at)
    select ${tenantId}, ${userId}, 'tick', t from unnest(${times}::timestamptz[]) t`.execute(database.admin);
}

/** Runs `strata doctor`; returns what it printed and the exit code it asked for. */
async function doctor(...args: string[]): Promise<{ out: string[]; err: string[]; exitCode: number }> {
  try {
    const out = await cli.run('doctor', ...args);
    return { out, err: [...cli.err], exitCode: 0 };
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    return { out: [...cli.out], err: [...cli.err], exitCode: error.exitCode };
  }
}

const nextMonth = () => partitionName(monthStart(new Date(), 1));

describe('strata doctor', () => {
  it('reports every check as ok on a healthy database and exits 0', async () => {
    await insertAt(new Date().toISOString());
    const { out, exitCode } = await doctor();
    expect(exitCode).toBe(0);
    expect(out.map((line) => line.slice(0, 6))).toEqual(Array(out.length).fill('[ok  ]'));
    expect(out).toEqual(expect.arrayContaining([
      '[ok  ] migrations: all applied',
      '[ok  ] default partition: no rows outside the monthly partitions',
      expect.stringMatching(/^\[ok {2}\] coming partitions: every month from 1 month back to 3 ahead has its partition$/),
      expect.stringMatching(/^\[ok {2}\] activity partitions: 5 monthly, \d{4}-\d{2} to \d{4}-\d{2}$/),
      '[ok  ] indexes: all valid',
    ]));
  });

  it('reports rows in the default partition, with their span, and exits non-zero', async () => {
    await insertAt('2010-01-05T00:00:00Z', '2010-03-09T00:00:00Z', '2010-02-01T00:00:00Z');
    const { out, err, exitCode } = await doctor();
    expect(exitCode).toBe(1);
    expect(out).toContainEqual(expect.stringMatching(/^\[FAIL\] default partition: 3 rows outside every monthly partition, 2010-01 to 2010-03: /));
    expect(err).toEqual(['doctor: 1 problem found (default partition)']);
  });

  it('reports a missing coming month and exits non-zero; `strata activity partitions` repairs it', async () => {
    await sql`drop table ${sql.table(nextMonth())}`.execute(database.admin);
    const { out, exitCode } = await doctor();
    expect(exitCode).toBe(1);
    expect(out).toContainEqual(expect.stringMatching(new RegExp(`^\\[FAIL\\] coming partitions: missing ${nextMonth()}: `)));
    const printed = await cli.run('activity', 'partitions');
    expect(printed[0]).toBe(`created 1 partition: ${nextMonth()}`);
    expect(printed).toContain(`  ${nextMonth()} [${monthStart(new Date(), 1).toISOString().slice(0, 10)}, ${monthStart(new Date(), 2).toISOString().slice(0, 10)})`);
    expect(printed.at(-1)).toBe('  user_activity_default (default)');
    expect((await doctor()).exitCode).toBe(0);
  });

  // On Citus the rows of a distributed table's default partition are not moved into a new month yet.
  it.runIf(!onCitus())('moves rows that waited in the default partition into their month when it is created (single server)', async () => {
    await sql`drop table ${sql.table(nextMonth())}`.execute(database.admin);
    const inNextMonth = new Date(monthStart(new Date(), 1).getTime() + 3_600_000).toISOString();
    await insertAt(inNextMonth, inNextMonth, '2010-01-05T00:00:00Z');
    expect((await doctor()).out).toContainEqual(expect.stringMatching(/^\[FAIL\] default partition: 3 rows/));
    expect((await cli.run('activity', 'partitions'))[0]).toBe(`created 1 partition: ${nextMonth()}; moved 2 rows out of the default partition`);
    const { rows } = await sql<{ partition: string; rows: number }>`
      select tableoid::regclass::text as partition, count(*)::int as rows from user_activity group by 1 order by 1`.execute(database.admin);
    expect(Object.fromEntries(rows.map((row) => [row.partition, row.rows]))).toEqual({ [nextMonth()]: 2, user_activity_default: 1 });
    // The moved rows keep their ids: nothing downstream (the ETL's keys) sees them change.
    const { rows: ids } = await sql<{ n: number }>`select count(distinct id)::int as n from user_activity`.execute(database.admin);
    expect(ids[0]!.n).toBe(3);
  });

  it('fails on an invalid index, and warns when metadata filters cannot use the GIN index or the pipeline has failed', async () => {
    await sql`update pg_index set indisvalid = false where indexrelid = 'user_activity_tenant_created_idx'::regclass`.execute(database.admin);
    await sql`alter function jsonb_contains(jsonb, jsonb) not leakproof`.execute(database.admin);
    await sql`insert into etl_run (pipeline, status) values ('user-analytics', 'failed')`.execute(database.admin);
    try {
      const { out, err, exitCode } = await doctor();
      expect(exitCode).toBe(1);
      expect(out).toContainEqual('[FAIL] indexes: invalid (a failed CREATE INDEX CONCURRENTLY?): user_activity_tenant_created_idx');
      expect(out).toContainEqual(expect.stringMatching(/^\[warn\] metadata search: jsonb @> is not leakproof/));
      expect(out).toContainEqual(expect.stringMatching(/^\[warn\] analytics pipeline: last success never; .*; 1 failed runs since$/));
      // Warnings alone do not fail the run: only the invalid index does.
      expect(err).toEqual(['doctor: 1 problem found (indexes)']);
    } finally {
      await sql`update pg_index set indisvalid = true where indexrelid = 'user_activity_tenant_created_idx'::regclass`.execute(database.admin);
      await sql`alter function jsonb_contains(jsonb, jsonb) leakproof`.execute(database.admin);
      await sql`delete from etl_run`.execute(database.admin);
    }
  });

  it('prints JSON with --json', async () => {
    const { out, exitCode } = await doctor('--json');
    expect(exitCode).toBe(0);
    const checks = JSON.parse(out[0]!) as { name: string; status: string }[];
    expect(checks.map((check) => check.name)).toEqual([
      'migrations', 'distribution', 'default partition', 'coming partitions', 'activity partitions', 'indexes', 'metadata search', 'analytics pipeline', 'idempotency keys',
    ]);
  });

  it('refuses a --months-ahead that is not a whole number', async () => {
    await expect(cli.run('activity', 'partitions', '--months-ahead', 'many')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('strata doctor, distribution', () => {
  it.runIf(!onCitus())('on a single server, reports the mode and no placement rule to check', async () => {
    const { out } = await doctor();
    expect(out).toContain('[ok  ] distribution: single server (no citus extension)');
  });

  it.runIf(onCitus())('on Citus, reports the workers and every tenant table distributed by tenant_id', async () => {
    const { rows } = await sql<{ tables: number }>`
      select count(distinct c.relname)::int as tables from pg_class c join pg_attribute a on a.attrelid = c.oid and a.attname = 'tenant_id'
      where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition`.execute(database.admin);
    const { out } = await doctor();
    expect(out).toContain(`[ok  ] distribution: Citus, 2 workers; ${rows[0]!.tables} tables distributed by tenant_id, 2 reference tables`);
  });

  it.runIf(onCitus())('on Citus, fails naming a tenant table left on the coordinator', async () => {
    const scratch = await migratedDatabase();
    // A tenant table added without being distributed stays on the coordinator.
    await sql`create table tenant_note (tenant_id bigint not null, id bigint not null, primary key (tenant_id, id))`.execute(scratch.admin);
    const checks = await diagnose(scratch);
    expect(checks.find((check) => check.name === 'distribution')).toEqual({ name: 'distribution', status: 'fail',
      detail: expect.stringMatching(/not placed as they should be: tenant_note \(local to the coordinator; should be distributed\)/) });
  });
});

describe('diagnose', () => {
  it('on a database that was never migrated, reports only the pending migrations, as a failure', async () => {
    const empty = await emptyDatabase();
    const checks = await diagnose(empty);
    expect(checks).toEqual([{ name: 'migrations', status: 'fail', detail: expect.stringMatching(/^\d+ pending: 0001_create_app_role, /) }]);
  });
});
