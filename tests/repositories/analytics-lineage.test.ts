import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { addDays } from '../../src/models/analytics.js';
import { AnalyticsRepository } from '../../src/repositories/analytics-repository.js';
import { EtlRunRepository, tenantSafeError } from '../../src/repositories/etl-run-repository.js';
import { createTenant } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let tenant: number;
let user: number;

const newRun = async () => (await database.admin.insertInto('etl_run').values({ pipeline: 'lineage-test' }).returning('id').executeTakeFirstOrThrow()).id;
const analytics = <T>(fn: (repository: AnalyticsRepository) => Promise<T>) =>
  withTenant(database, { tenantId: tenant }, (trx) => fn(new AnalyticsRepository(trx)));

beforeAll(async () => {
  database = await migratedDatabase();
  tenant = (await createTenant(database, 'Lineage')).id;
  user = (await database.admin.insertInto('app_user').values({ tenant_id: tenant, email: 'l@lineage.io', username: 'l' })
    .returning('id').executeTakeFirstOrThrow()).id;
});

describe('the lineage of live active users', () => {
  it('names the runs of the active days that count in the range (its 29 days before included), and no earlier', async () => {
    const from = '2025-06-10';
    const [tooEarly, edge, inRange] = [await newRun(), await newRun(), await newRun()];
    await database.admin.insertInto('active_user_day').values([
      { tenant_id: tenant, user_id: user, day: addDays(from, -30), etl_run_id: tooEarly },
      { tenant_id: tenant, user_id: user, day: addDays(from, -29), etl_run_id: edge },
      { tenant_id: tenant, user_id: user, day: from, etl_run_id: inRange },
    ]).execute();
    expect((await analytics((repository) => repository.liveActiveUsers({ from, to: addDays(from, 3) }))).etlRunIds).toEqual([edge, inRange]);
  });
});

describe('the lineage of weekly activity', () => {
  it('names the runs of both its metrics and its active users', async () => {
    const [metricRun, usersRun] = [await newRun(), await newRun()];
    await database.admin.insertInto('metric').values({ tenant_id: tenant, day: '2024-03-05', name: 'activities', dimension: 'click', value: 3, etl_run_id: metricRun }).execute();
    await database.admin.insertInto('active_user_day').values({ tenant_id: tenant, user_id: user, day: '2024-03-06', etl_run_id: usersRun }).execute();
    const weekly = await analytics((repository) => repository.weeklyActivity({ from: '2024-03-04', to: '2024-03-10' }));
    expect(weekly.etlRunIds).toEqual([metricRun, usersRun]);
    expect(weekly.rows).toMatchObject([{ weekStart: '2024-03-04', activities: 3, activeUsers: 1 }]);
  });
});

describe('a missing report or run', () => {
  it('is refused naming the id asked for', async () => {
    await expect(analytics((repository) => repository.getReport(987_654))).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'report 987654 does not exist' });
    await expect(EtlRunRepository.forPlatform(database.admin).get('lineage-test', 987_655))
      .rejects.toMatchObject({ code: 'NOT_FOUND', message: 'etl run 987655 does not exist' });
  });
});

describe('a run\'s error as a tenant sees it', () => {
  const run = (status: string, error: string | null) => ({ status, error, checksums: {} });
  it('is none only for a run neither failed nor carrying an error', () => {
    expect(tenantSafeError(run('succeeded', null), 0)).toBeNull();
    expect(tenantSafeError(run('running', null), 0)).toBeNull();
    expect(tenantSafeError(run('failed', null), 0)).toMatch(/^INTERNAL: /);
    expect(tenantSafeError(run('running', 'deadlock detected'), 0)).toMatch(/^INTERNAL: /);
    expect(tenantSafeError(run('failed', 'key (tenant_id)=(7) is duplicated'), 2)).toMatch(/^QUARANTINE: /);
  });
});
