import { sql } from 'kysely';
import { openDatabase, type Database } from '../src/db/database.js';
import { pipelineBusy } from '../src/etl/user-analytics/pipeline.js';
import {
  expectedActiveUserDays, expectedMetrics, loadedActiveUserDays, loadedMetrics, seedTenant, type SeededTenant,
} from '../tests/etl/support.js';
import type { Figures } from './support/figures.js';
import { runStrata, scratchDatabase, sleep, spawnStrata, type Scope } from './support/processes.js';

const KILLED_RUNS = 5;
const ACTIVITIES_PER_ROUND = 40_000;
const EVENTS_PER_ROUND = 10_000;

/** New source rows for every tenant, spread over 60 days, some dated before rows already counted. */
async function ingest(database: Database, tenants: readonly SeededTenant[], round: number): Promise<number> {
  for (const tenant of tenants) {
    const users = tenant.userIds;
    const rows = ACTIVITIES_PER_ROUND / tenants.length;
    const events = EVENTS_PER_ROUND / tenants.length;
    await sql`insert into user_activity (tenant_id, user_id, activity_type, created_at)
      select ${tenant.tenantId}, (${users}::bigint[])[1 + (i * 7 + ${round}) % ${users.length}], (array['login', 'view', 'buy'])[1 + i % 3],
        timestamptz '2026-09-01' + ((i * 13 + ${round}) % 60) * interval '1 day' + (i % 1440) * interval '1 minute'
      from generate_series(1, ${rows}::int) as i`.execute(database.admin);
    await sql`insert into event (tenant_id, client_id, distinct_id, user_id, name, occurred_at)
      select ${tenant.tenantId}, gen_random_uuid(), 'd-' || i % 97, case when i % 4 = 0 then null else (${users}::bigint[])[1 + i % ${users.length}] end,
        (array['signup', 'page_view'])[1 + i % 2], timestamptz '2026-09-01' + ((i * 11 + ${round}) % 60) * interval '1 day'
      from generate_series(1, ${events}::int) as i`.execute(database.admin);
  }
  return ACTIVITIES_PER_ROUND + EVENTS_PER_ROUND;
}

/** Facts keyed by their identity, with their value: what is missing, extra or different. */
function compare<T extends object>(expected: readonly T[], loaded: readonly T[], key: (row: T) => string, value: (row: T) => number) {
  const want = new Map(expected.map((row) => [key(row), value(row)]));
  const have = new Map(loaded.map((row) => [key(row), value(row)]));
  let missing = 0;
  let extra = 0;
  for (const [fact, count] of want) missing += Math.max(count - (have.get(fact) ?? 0), 0);
  for (const [fact, count] of have) extra += Math.max(count - (want.get(fact) ?? 0), 0);
  return { missing, extra };
}

/**
 * `strata etl run` is SIGKILLed at a random moment five times, with new rows (some for days
 * already counted) arriving before each, then one run goes to the end. Every metric and active
 * user day must then equal a recount straight from the source rows: nothing missed, nothing twice.
 */
export async function etlKill(scope: Scope, options: { serverUrl: string; random: () => number }): Promise<Figures> {
  const databaseUrl = await scratchDatabase(scope, options.serverUrl, 'etl_kill');
  const database = openDatabase(databaseUrl, { maxConnections: 2, ingestConnections: 1 });
  scope.defer(() => database.close());
  const tenants = [await seedTenant(database, 40, 'Chaos A'), await seedTenant(database, 25, 'Chaos B')];
  const ids = tenants.map((tenant) => tenant.tenantId);
  const env = { DATABASE_URL: databaseUrl };

  let sent = 0;
  const runs = new Map<string, number>();
  const count = (label: string) => runs.set(label, (runs.get(label) ?? 0) + 1);
  const delays: number[] = [];
  // A kill drawn from [0, longest) after the run took its lock; a run that finished first shows
  // how long a run takes, and the next kill is drawn within it.
  let longest = 1500;
  let kills = 0;
  for (let round = 0; kills < KILLED_RUNS && round < 2 * KILLED_RUNS; round += 1) {
    sent += await ingest(database, tenants, round);
    const child = spawnStrata(scope, ['etl', 'run'], env);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // The kill lands inside the run: after it took the pipeline's lock, not while Node starts.
    while (child.exitCode === null && !(await pipelineBusy(database.admin))) await sleep(10);
    const lockedAt = performance.now();
    const delay = options.random() * longest;
    const ended = await Promise.race([exited, sleep(delay).then(() => 'kill' as const)]);
    if (ended === 'kill') {
      child.kill('SIGKILL');
      await exited;
      kills += 1;
      delays.push(delay);
      count('SIGKILLed holding the lock');
    } else {
      longest = Math.min(longest, 0.9 * (performance.now() - lockedAt));
      count(`finished before its kill (exit ${ended})`);
    }
  }
  sent += await ingest(database, tenants, 2 * KILLED_RUNS);
  const started = performance.now();
  const final = await runStrata(scope, ['etl', 'run'], env);
  const finalMs = performance.now() - started;
  if (final.code !== 0) throw new Error(`the last etl run failed: ${final.output}`);
  count(`final run (exit ${final.code})`);

  const metricKey = (row: { tenant_id: number; name: string; dimension: string; day: unknown }) =>
    `${row.tenant_id}|${row.name}|${row.dimension}|${String(row.day)}`;
  const expected = await expectedMetrics(database, ids);
  const loaded = await loadedMetrics(database, ids);
  const metrics = compare(expected, loaded, metricKey, (row) => Number(row.value));
  const dayKey = (row: { tenant_id: number; day: unknown; user_id: number }) => `${row.tenant_id}|${String(row.day)}|${row.user_id}`;
  const days = compare(await expectedActiveUserDays(database, ids), await loadedActiveUserDays(database, ids), dayKey, () => 1);
  const counted = loaded.filter((row) => row.name === 'activities' || row.name === 'events').reduce((sum, row) => sum + Number(row.value), 0);
  const runStates = await database.admin.selectFrom('etl_run').select(['status', (eb) => eb.fn.countAll<string>().as('runs')])
    .groupBy('status').execute();

  return {
    sent,
    acknowledged: null,
    stored: counted,
    lost: metrics.missing + days.missing,
    duplicated: metrics.extra + days.extra,
    stale: 0,
    failed: [...runs].map(([label, times]) => `${label}×${times}`).join(', '),
    recoveryMs: finalMs,
    notes: [
      `sent: source rows (activities and events, 2 tenants); stored: the rows the activities and events metrics count; lost / duplicated: metric counts below / above the recount, plus active user days missing / extra`,
      `${expected.length} metric facts and the active user days compared exactly; kills ${delays.map((ms) => `${Math.round(ms)}`).join(', ')} ms after the run took its lock`,
      `etl_run rows by status: ${runStates.map((row) => `${row.status} ${row.runs}`).join(', ')}; recovery: the last run, spawn → exit`,
    ],
    violations: [],
  };
}
