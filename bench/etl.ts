import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { buildApp } from '../src/api/app.js';
import { createCaches, type Caches } from '../src/caching/index.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/database.js';
import { scopeTransaction } from '../src/db/tenant.js';
import { runPipeline, type RunOptions } from '../src/etl/user-analytics/pipeline.js';
import { refreshStaleCounts } from '../src/repositories/active-user-counts.js';
import { waitForCommitHorizon } from '../src/etl/user-analytics/extractors.js';
import { issueTenantKey } from '../src/services/api-keys.js';
import { median, percentile, printTable, round, startBenchServer, writeResults } from './support.js';

/** One measurement and the 1-minute load average beside it: the machine is shared. */
export interface Measured {
  ms: number;
  load: number;
  /** The recount of the daily active users the run marked stale, which follows it off its transaction. */
  recountMs?: number;
}

export interface EtlBenchResult {
  fullRun: Measured & { rows: number };
  /** The first incremental run after the full one: it also pays for touching the freshly loaded rows first. */
  incrementalRun: Measured & { rows: number };
  /** Later incremental runs, alternating paths, each over its own new rows. */
  incrementalByPath: { setBased: Measured[]; perRow: Measured[] };
  /** The full run forced row by row (the pipeline before the set-based path), when asked for. */
  fullRunPerRow: (Measured & { rows: number }) | null;
  metricsApi: { uncached: { p50: number; p99: number; load: number }; served: { p50: number; p99: number; load: number } };
  node: string;
  at: string;
}

const TENANTS = 100;
const USERS_PER_TENANT = 200;
const ACTIVITIES = 1_000_000;
const NEW_ROWS = 10_000;
const DAYS = 90;
const API_REQUESTS = 500;
const PATH_ROUNDS = 3;
const perRow: RunOptions = { perRowLimit: Number.MAX_SAFE_INTEGER };
const load = () => round(loadavg()[0]!);

/** The bench's tenants and their users; seed() spreads activities over the tenants whose slug starts bench-etl-. */
async function createTenants(database: Database, label: string): Promise<number[]> {
  const tenants = await database.admin.insertInto('tenant')
    .values(Array.from({ length: TENANTS }, (_, index) => ({ name: `${label} ${index}`, slug: `bench-etl-${Date.now()}-${index}` })))
    .returning('id').execute();
  const ids = tenants.map((tenant) => tenant.id);
  await sql`
    insert into app_user (tenant_id, email, username)
    select t.id, 'u' || n || '-' || t.id || '@bench.example', 'u' || n
    from unnest(${ids}::bigint[]) as t(id), generate_series(1, ${USERS_PER_TENANT}) as n`.execute(database.admin);
  return ids;
}

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

/** A run over rows seeded just before; other sessions' open transactions hold the horizon back, which is not timed. */
async function timedRun(database: Database, options: RunOptions = {}): Promise<Measured & { rows: number }> {
  await waitForCommitHorizon(database.admin);
  const started = performance.now();
  const result = await runPipeline(database, options);
  const ms = performance.now() - started;
  if (result.status !== 'succeeded') throw new Error(`the run did not succeed: ${JSON.stringify(result)}`);
  const recountStarted = performance.now();
  await refreshStaleCounts(database.admin);
  return { ms, load: load(), rows: result.rowsRead, recountMs: performance.now() - recountStarted };
}

async function metricsApi(database: Database, key: string, caches?: Caches) {
  const app = await buildApp({ database, config: loadConfig({}), caches });
  const url = '/v1/analytics/metrics?name=activities&from=2025-01-01&to=2025-03-31';
  const timings: number[] = [];
  try {
    for (let request = 0; request < API_REQUESTS + 50; request += 1) {
      const start = performance.now();
      const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
      if (response.statusCode !== 200) throw new Error(`metrics API answered ${response.statusCode}: ${response.body}`);
      // The first 50 warm the pool, the plan cache, the JIT and (when there are caches) the caches.
      if (request >= 50) timings.push(performance.now() - start);
    }
  } finally {
    await app.close();
  }
  return { p50: percentile(timings, 50), p99: percentile(timings, 99), load: load() };
}

/**
 * Full run over 1M activities of 100 tenants, incremental runs over 10k new rows (on each path, the
 * per-row one being the pipeline as it was), and the metrics API over 90 days without caches and as
 * `serve` runs it. `baseline` also times a full run forced row by row (about a minute) on new tenants.
 */
export async function runEtlBench(database: Database, options: { baseline?: boolean } = {}): Promise<EtlBenchResult> {
  const tenantIds = await createTenants(database, 'Bench');
  await seed(database, ACTIVITIES, 0);
  await sql`analyze user_activity`.execute(database.admin);

  const fullRun = await timedRun(database);
  await seed(database, NEW_ROWS, 1);
  const incrementalRun = await timedRun(database);
  const incrementalByPath: EtlBenchResult['incrementalByPath'] = { setBased: [], perRow: [] };
  for (let pass = 0; pass < PATH_ROUNDS; pass += 1) {
    await seed(database, NEW_ROWS, 2 + 2 * pass);
    incrementalByPath.perRow.push(await timedRun(database, perRow));
    await seed(database, NEW_ROWS, 3 + 2 * pass);
    incrementalByPath.setBased.push(await timedRun(database));
  }

  const tenantId = tenantIds[0]!;
  const { key } = await database.admin.transaction().execute(async (trx) => issueTenantKey(await scopeTransaction(trx, { tenantId }), 'bench'));
  const uncached = await metricsApi(database, key);
  const caches = createCaches({ config: loadConfig({ CACHE_KEY_PREFIX: `bench-etl-${process.pid}` }), database });
  let served: EtlBenchResult['metricsApi']['served'];
  try {
    served = await metricsApi(database, key, caches);
  } finally {
    await caches.close();
  }

  let fullRunPerRow: EtlBenchResult['fullRunPerRow'] = null;
  if (options.baseline) {
    // The same seed for new tenants: the runs so far have read everything else, so the window is
    // these rows alone (loaded into a table already holding the first run's, a little to its cost).
    await sql`update tenant set slug = 'done-' || slug where slug like 'bench-etl-%'`.execute(database.admin);
    await createTenants(database, 'Bench baseline');
    await seed(database, ACTIVITIES, 0);
    await sql`analyze user_activity`.execute(database.admin);
    fullRunPerRow = await timedRun(database, perRow);
  }

  const result: EtlBenchResult = {
    fullRun, incrementalRun, incrementalByPath, fullRunPerRow, metricsApi: { uncached, served },
    node: process.versions.node, at: new Date().toISOString(),
  };
  print(result);
  console.log(`written to ${await writeResults('etl', result)}`);
  return result;
}

function print(result: EtlBenchResult): void {
  const ms = (value: number) => round(value, 1);
  const setBased = median(result.incrementalByPath.setBased.map((run) => run.ms));
  const perRowMs = median(result.incrementalByPath.perRow.map((run) => run.ms));
  const loads = (runs: Measured[]) => runs.map((run) => run.load).join(' / ');
  const { uncached, served } = result.metricsApi;
  printTable(`ETL (issue 5): ${ACTIVITIES.toLocaleString('en-US')} activities of ${TENANTS} tenants, then ${NEW_ROWS.toLocaleString('en-US')} new rows per incremental run; load = 1-minute load average`, [
    ['measure', 'ms', 'target ms', 'ms / target', 'load'],
    ['full run', ms(result.fullRun.ms), 10_000, round(result.fullRun.ms / 10_000), result.fullRun.load],
    ['incremental run, first after the full run', ms(result.incrementalRun.ms), 500, round(result.incrementalRun.ms / 500), result.incrementalRun.load],
    [`incremental run, median of ${PATH_ROUNDS}`, ms(setBased), 500, round(setBased / 500), loads(result.incrementalByPath.setBased)],
    ['daily active users recounted after the full run (a step of its own)', ms(result.fullRun.recountMs ?? Number.NaN), '', '', result.fullRun.load],
    [`daily active users recounted after an incremental run, median of ${PATH_ROUNDS}`, ms(median(result.incrementalByPath.setBased.map((run) => run.recountMs ?? Number.NaN))), '', '', ''],
    ['metrics API p50, 90 days, no caches', ms(uncached.p50), 10, round(uncached.p50 / 10), uncached.load],
    ['metrics API p99, 90 days, no caches', ms(uncached.p99), 10, round(uncached.p99 / 10), uncached.load],
    ['metrics API p50, 90 days, as served (session + response caches)', ms(served.p50), 10, round(served.p50 / 10), served.load],
    ['metrics API p99, 90 days, as served (session + response caches)', ms(served.p99), 10, round(served.p99 / 10), served.load],
  ]);
  const baseline = result.fullRunPerRow;
  printTable('Set-based path against the per-row path (the pipeline before it), same run', [
    ['measure', 'per-row ms', 'set-based ms', 'per-row / set-based', 'load'],
    [`incremental run, median of ${PATH_ROUNDS}`, ms(perRowMs), ms(setBased), round(perRowMs / setBased), loads(result.incrementalByPath.perRow)],
    ...(baseline ? [['full run', ms(baseline.ms), ms(result.fullRun.ms), round(baseline.ms / result.fullRun.ms), `${baseline.load} / ${result.fullRun.load}`]] : []),
  ]);
}

/** Alone (`node --import tsx bench/etl.ts [--baseline]`): a freshly migrated database of its own, dropped after. */
async function main(): Promise<void> {
  const server = await startBenchServer();
  try {
    await runEtlBench(await server.freshDatabase('etl'), { baseline: process.argv.includes('--baseline') });
  } finally {
    await server.stop();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
