import { sql } from 'kysely';
import type PgBoss from 'pg-boss';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  PARTITIONS_CRON, PARTITIONS_QUEUE, ensureMonthlyPartitions, listActivityPartitions, missingMonths, monthStart, partitionMaintenanceJob,
  partitionName,
} from '../../src/db/activity-partitions.js';
import { startJobs } from '../../src/db/jobs.js';
import { withDatabaseName } from '../../src/db/database.js';
import { onServer } from '../helpers/cluster.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let boss: PgBoss | undefined;

beforeAll(async () => {
  database = await migratedDatabase();
});

afterAll(async () => {
  await boss?.stop({ graceful: false, close: true, wait: true, timeout: 10_000 });
});

const exists = async (name: string) =>
  (await sql<{ found: boolean }>`select to_regclass(${name}) is not null as found`.execute(database.admin)).rows[0]!.found;

describe('listActivityPartitions', () => {
  it('reads each partition\'s exact bounds from the catalog, the default last', async () => {
    const partitions = await listActivityPartitions(database.admin);
    expect(partitions.at(-1)).toEqual({ name: 'user_activity_default', from: null, to: null });
    const thisMonth = partitions.find((partition) => partition.name === partitionName(monthStart(new Date())));
    expect(thisMonth).toEqual({ name: partitionName(monthStart(new Date())), from: monthStart(new Date()), to: monthStart(new Date(), 1) });
  });
});

describe('ensureMonthlyPartitions', () => {
  it('creates only the months missing from the window, and nothing on a second run', async () => {
    await sql`drop table ${sql.table(partitionName(monthStart(new Date(), 2)))}`.execute(database.admin);
    expect(await missingMonths(database.admin)).toEqual([monthStart(new Date(), 2)]);
    expect(await ensureMonthlyPartitions(database, { monthsAhead: 4 })).toEqual({
      created: [partitionName(monthStart(new Date(), 2)), partitionName(monthStart(new Date(), 4))], moved: 0,
    });
    expect(await ensureMonthlyPartitions(database, { monthsAhead: 4 })).toEqual({ created: [], moved: 0 });
  });

  it('works from any clock: a window around another day creates that window\'s months', async () => {
    const now = new Date(Date.UTC(2031, 0, 15));
    expect((await ensureMonthlyPartitions(database, { now, monthsAhead: 1, monthsBack: 1 })).created)
      .toEqual(['user_activity_p2030_12', 'user_activity_p2031_01', 'user_activity_p2031_02']);
  });
});

describe('partitionMaintenanceJob', () => {
  it('schedules a daily job on pg-boss that creates the missing months', async () => {
    boss = await startJobs(database, [partitionMaintenanceJob(database)], { pollingIntervalSeconds: 0.5 });
    expect((await boss.getSchedules()).map((schedule) => [schedule.name, schedule.cron, schedule.options?.tz]))
      .toContainEqual([PARTITIONS_QUEUE, PARTITIONS_CRON, 'UTC']);

    const coming = partitionName(monthStart(new Date(), 1));
    await sql`drop table ${sql.table(coming)}`.execute(database.admin);
    await boss.send(PARTITIONS_QUEUE, {});
    const deadline = Date.now() + 30_000;
    while (!(await exists(coming)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await exists(coming)).toBe(true);
  });

  it.runIf(onCitus())('on Citus, keeps pg-boss\'s queue in plain tables on the coordinator: none distributed, no worker holds its schema', async () => {
    boss ??= await startJobs(database, [partitionMaintenanceJob(database)], { pollingIntervalSeconds: 0.5 });
    const { rows: [placed] } = await sql<{ tables: number; citus: number }>`
      select count(*)::int as tables, count(t.table_name)::int as citus
      from pg_class c join pg_namespace n on n.oid = c.relnamespace left join citus_tables t on t.table_name = c.oid
      where n.nspname = 'pgboss' and c.relkind in ('r', 'p')`.execute(database.admin);
    expect(placed!.tables).toBeGreaterThan(3);
    expect(placed!.citus).toBe(0);
    for (const worker of inject('servers').urls.slice(1)) {
      const schemas = await onServer(withDatabaseName(worker, database.name), async (client) =>
        (await client.query<{ found: boolean }>(`select exists (select 1 from pg_namespace where nspname = 'pgboss') as found`)).rows[0]!.found);
      expect(schemas).toBe(false);
    }
  });
});

describe('a month created for rows already waiting in the default partition', () => {
  it('moves them into it in the same transaction and reports how many moved', async () => {
    const month = new Date('2003-02-01T00:00:00Z');
    const tenant = await database.admin.insertInto('tenant').values({ name: 'Waiting', slug: 'waiting' }).returning('id').executeTakeFirstOrThrow();
    const user = await database.admin.insertInto('app_user').values({ tenant_id: tenant.id, email: 'w@example.com', username: 'w' })
      .returning('id').executeTakeFirstOrThrow();
    await sql`insert into user_activity (tenant_id, user_id, activity_type, created_at)
      select ${tenant.id}::bigint, ${user.id}::bigint, 'early', timestamptz '2003-02-01' + g * interval '1 day' from generate_series(0, 4) g
      union all select ${tenant.id}::bigint, ${user.id}::bigint, 'later', timestamptz '2003-03-05'`.execute(database.admin);
    const measured = await database.queries.measure(() => ensureMonthlyPartitions(database, { now: month, monthsBack: 0, monthsAhead: 0 }));
    expect(measured.result).toEqual({ created: [partitionName(month)], moved: 5 });
    // Every partition change waits a bounded time behind readers of the parent.
    expect(measured.statements.filter((statement) => /set local lock_timeout = '10s'/.test(statement))).toHaveLength(1);
    const { rows } = await sql<{ partition: string; rows: number }>`
      select regexp_replace(tableoid::regclass::text, '_[0-9]{6,}$', '') as partition, count(*)::int as rows
      from user_activity where tenant_id = ${tenant.id} group by 1 order by 1`.execute(database.admin);
    expect(rows).toEqual([{ partition: 'user_activity_default', rows: 1 }, { partition: partitionName(month), rows: 5 }]);
    expect(await ensureMonthlyPartitions(database, { now: month, monthsBack: 0, monthsAhead: 0 })).toEqual({ created: [], moved: 0 });
    // A month nothing waits for is created without detaching the default partition (which locks the parent longer).
    const empty = await database.queries.measure(() => ensureMonthlyPartitions(database, { now: new Date('2003-05-01T00:00:00Z'), monthsBack: 0, monthsAhead: 0 }));
    expect(empty.result).toEqual({ created: ['user_activity_p2003_05'], moved: 0 });
    expect(empty.statements.filter((statement) => /detach partition/.test(statement))).toEqual([]);
  });

  it('is the daily job at 00:05 UTC', () => {
    expect(partitionMaintenanceJob(database).cron).toBe('5 0 * * *');
  });
});
