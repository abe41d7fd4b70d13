import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { backfill, runPipeline } from '../../src/etl/user-analytics/pipeline.js';
import { EtlRunRepository } from '../../src/repositories/etl-run-repository.js';
import { PIPELINE } from '../../src/repositories/pipeline-watermark.js';
import { catchUp, horizonPassed, insertActivities, insertEvents } from '../etl/support.js';
import { testApi, type TestApi } from './helpers.js';
import { tenantWithUsers } from './support/tenant-with-users.js';

let api: TestApi;
let a: { id: number; key: string; users: number[] };
let b: { id: number; key: string; users: number[] };
/** Each run's id with the rows of each tenant it read, as inserted below. */
const expected: { runId: number; a: number; b: number }[] = [];

const activity = (tenant: { id: number; users: number[] }, type: string, day: string) => ({ tenantId: tenant.id, userId: tenant.users[0]!, type, at: `${day}T10:00:00Z` });

async function succeededRun() {
  const run = await catchUp(api.database);
  if (run.status !== 'succeeded') throw new Error(`expected a succeeded run, got ${JSON.stringify(run)}`);
  return run.runId;
}

beforeAll(async () => {
  api = await testApi();
  a = await tenantWithUsers(api, 'a', 1);
  b = await tenantWithUsers(api, 'b', 1);
  await insertActivities(api.database, [activity(a, 'login', '2025-03-03'), activity(a, 'view', '2025-03-04'), activity(b, 'login', '2025-03-03')]);
  expected.push({ runId: await succeededRun(), a: 2, b: 1 });
  // Two events of A dated in the far future: the run quarantines them and fails, having read them.
  await insertActivities(api.database, [activity(a, 'login', '2025-03-05')]);
  await insertEvents(api.database, [
    { tenantId: a.id, userId: a.users[0]!, name: 'clock_skew', at: '2999-01-01T00:00:00Z' },
    { tenantId: a.id, userId: a.users[0]!, name: 'clock_skew', at: '2999-02-01T00:00:00Z' },
  ]);
  await horizonPassed(api.database);
  const failed = await runPipeline(api.database);
  if (failed.status !== 'failed') throw new Error(`expected a failed run, got ${JSON.stringify(failed)}`);
  expected.push({ runId: failed.runId, a: 3, b: 0 });
  // The next run reads the failed run's window again, but the rows that run quarantined.
  await insertActivities(api.database, [activity(a, 'view', '2025-03-05'), activity(b, 'view', '2025-03-05')]);
  expected.push({ runId: await succeededRun(), a: 2, b: 1 });
  await insertActivities(api.database, [activity(a, 'login', '2025-03-06'), activity(a, 'view', '2025-03-06'), activity(a, 'buy', '2025-03-06')]);
  expected.push({ runId: await succeededRun(), a: 3, b: 0 });
  // A backfill reads only the days it rebuilds.
  const rebuilt = await backfill(api.database, { from: '2025-03-03', to: '2025-03-04', daysPerBatch: 7 });
  expect(rebuilt.runIds).toHaveLength(1);
  expected.push({ runId: rebuilt.runIds[0]!, a: 2, b: 1 });
  expected.reverse();
});

describe('GET /v1/etl-runs for a tenant key', () => {
  it('counts each run the tenant\'s own rows read, those of a backfill\'s days, and not the rows an earlier run quarantined', async () => {
    for (const [tenant, own] of [[a, 'a'], [b, 'b']] as const) {
      const body = (await api.call('GET', '/v1/etl-runs', tenant.key)).json();
      expect(body.data.map((run: { id: number; rowsRead: number }) => [run.id, run.rowsRead]))
        .toEqual(expected.map((run) => [run.runId, run[own]]));
    }
  });

  it('reads a page of runs in the same number of queries whatever the number of runs on it', async () => {
    const list = (limit: number) => withTenant(api.database, { tenantId: a.id }, (trx) => api.database.queries.measure(
      () => EtlRunRepository.forTenant(trx).list(PIPELINE, { limit })));
    const measured = [];
    for (const limit of [1, 2, expected.length]) {
      const { result, queries } = await list(limit);
      expect(result.map((run) => [run.id, run.rows_read])).toEqual(expected.slice(0, limit).map((run) => [run.runId, run.a]));
      measured.push(queries);
    }
    // The runs, their quarantined rows by reason, and the tenant's rows read of all of them.
    expect(measured).toEqual([3, 3, 3]);
  });

  it('answers the whole route in the same number of queries for one run as for five', async () => {
    const route = async (limit: number) => (await api.database.queries.measure(() => api.call('GET', `/v1/etl-runs?limit=${limit}`, a.key))).queries;
    await route(expected.length);
    const [one, all] = [await route(1), await route(expected.length)];
    expect(all).toBe(one);
  });

  it('reads one run with the same figures as the list', async () => {
    for (const run of expected) {
      const { data } = (await api.call('GET', `/v1/etl-runs/${run.runId}`, b.key)).json();
      expect([data.id, data.rowsRead]).toEqual([run.runId, run.b]);
    }
  });
});
