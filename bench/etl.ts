import { sql } from 'kysely';
import { buildApp } from '../src/api/app.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { scopeTransaction } from '../src/db/tenant.js';
import { runPipeline } from '../src/etl/user-analytics/pipeline.js';
import { issueTenantKey } from '../src/services/api-keys.js';

export interface EtlBenchResult {
  fullRunMs: number;
  fullRunRows: number;
  incrementalRunMs: number;
  incrementalRunRows: number;
  metricsApiP50Ms: number;
  metricsApiP99Ms: number;
}

const TENANTS = 100;
const USERS_PER_TENANT = 200;
const ACTIVITIES = 1_000_000;
const NEW_ROWS = 10_000;
const DAYS = 90;
const API_REQUESTS = 500;

async function seed(database: Database, rows: number, dayOffset: number): Promise<void> {
  // Server-side generation: the bench measures the pipeline, not the client inserting its input.
  await sql`
    with users as (
      select tenant_id, id, row_number() over (partition by tenant_id order by id) - 1 as n,
        dense_rank() over (order by tenant_id) - 1 as t
      from app_user where tenant_id in (select id from tenant where slug like 'bench-etl-%')
    )
    insert into user_activity (tenant_id, user_id, activity_type, created_at)
    select u.tenant_id, u.id, (array['login', 'view', 'search', 'purchase', 'share'])[1 + (g % 5)::int],
      timestamptz '2025-01-01' + make_interval(days => ${dayOffset} + (abs(hashint8(g)) % ${DAYS})::int, secs => (g % 86400)::int)
    from generate_series(1::bigint, ${rows}::bigint) as g
    join users u on u.t = g % ${TENANTS} and u.n = abs(hashint8(g * 2 + 1)) % ${USERS_PER_TENANT}`.execute(database.admin);
}

/** Until every transaction that committed before the call is below the commit horizon (a run will read it). */
async function horizonPassed(database: Database): Promise<void> {
  const { rows: [mark] } = await sql<{ xid: string }>`select pg_current_xact_id()::text as xid`.execute(database.admin);
  for (;;) {
    const { rows: [now] } = await sql<{ passed: boolean }>`
      select pg_snapshot_xmin(pg_current_snapshot()) > ${mark!.xid}::xid8 as passed`.execute(database.admin);
    if (now!.passed) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
}

/** Full run over 1M activities of 100 tenants, an incremental run over 10k rows, and the metrics API over 90 days. */
export async function runEtlBench(database: Database): Promise<EtlBenchResult> {
  const tenants = await database.admin.insertInto('tenant')
    .values(Array.from({ length: TENANTS }, (_, index) => ({ name: `Bench ${index}`, slug: `bench-etl-${Date.now()}-${index}` })))
    .returning('id').execute();
  await sql`
    insert into app_user (tenant_id, email, username)
    select t.id, 'u' || n || '-' || t.id || '@bench.example', 'u' || n
    from unnest(${tenants.map((tenant) => tenant.id)}::bigint[]) as t(id), generate_series(1, ${USERS_PER_TENANT}) as n`.execute(database.admin);
  await seed(database, ACTIVITIES, 0);
  await sql`analyze user_activity`.execute(database.admin);
  // Other sessions' open transactions hold the horizon back; the bench times the run, not that wait.
  await horizonPassed(database);

  let started = performance.now();
  const full = await runPipeline(database);
  const fullRunMs = performance.now() - started;

  await seed(database, NEW_ROWS, 1);
  await horizonPassed(database);
  started = performance.now();
  const incremental = await runPipeline(database);
  const incrementalRunMs = performance.now() - started;

  const tenantId = tenants[0]!.id;
  const { key } = await database.admin.transaction().execute(async (trx) => issueTenantKey(await scopeTransaction(trx, { tenantId }), 'bench'));
  const app = await buildApp({ database, config: loadConfig({}) });
  const url = '/v1/analytics/metrics?name=activities&from=2025-01-01&to=2025-03-31';
  const timings: number[] = [];
  try {
    for (let request = 0; request < API_REQUESTS + 50; request += 1) {
      const start = performance.now();
      const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
      if (response.statusCode !== 200) throw new Error(`metrics API answered ${response.statusCode}: ${response.body}`);
      // The first 50 warm the pool, the plan cache and the JIT.
      if (request >= 50) timings.push(performance.now() - start);
    }
  } finally {
    await app.close();
  }
  timings.sort((a, b) => a - b);

  const result: EtlBenchResult = {
    fullRunMs,
    fullRunRows: full.status === 'succeeded' ? full.rowsRead : 0,
    incrementalRunMs,
    incrementalRunRows: incremental.status === 'succeeded' ? incremental.rowsRead : 0,
    metricsApiP50Ms: percentile(timings, 0.5),
    metricsApiP99Ms: percentile(timings, 0.99),
  };
  const rows = [
    ['full run', `${result.fullRunRows} rows`, result.fullRunMs, 10_000],
    ['incremental run', `${result.incrementalRunRows} rows`, result.incrementalRunMs, 500],
    ['metrics API p50 (90 days)', `${API_REQUESTS} requests`, result.metricsApiP50Ms, 10],
    ['metrics API p99 (90 days)', `${API_REQUESTS} requests`, result.metricsApiP99Ms, 10],
  ] as const;
  console.log('| etl | input | ms | target ms | ms / target |');
  console.log('|---|---|---:|---:|---:|');
  for (const [name, input, ms, target] of rows) console.log(`| ${name} | ${input} | ${ms.toFixed(1)} | ${target} | ${(ms / target).toFixed(2)} |`);
  return result;
}
