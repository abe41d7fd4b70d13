import { generateAdminKey } from '../src/services/api-keys.js';
import type { Figures } from './support/figures.js';
import { startIngestLoad } from './support/ingest-load.js';
import { freePort, privatePostgres, scratchDatabase, sleep, startServer, type Scope } from './support/processes.js';
import { call, outcomeOf, Outcomes, tenantWithUser } from './support/traffic.js';

const OUTAGE_MS = 3000;

/**
 * A PostgreSQL of the scenario's own is crashed (`pg_ctl stop -m immediate`: no checkpoint, every
 * session dropped) under ingest and read traffic, and started again after 3 s. Requests meanwhile
 * must get 503 DATABASE_UNAVAILABLE with Retry-After, and every acknowledged batch must survive the
 * crash exactly once.
 */
export async function postgresRestart(scope: Scope, options: { budgetMs: number }): Promise<Figures> {
  const postgres = await privatePostgres(scope);
  const databaseUrl = await scratchDatabase(scope, postgres.url, 'postgres_restart');
  const adminKey = generateAdminKey();
  const server = await startServer(scope, await freePort(), { DATABASE_URL: databaseUrl, STRATA_ADMIN_KEY: adminKey });
  const tenant = await tenantWithUser(server.url, adminKey, 'postgres-restart');

  const answers: Array<{ outcome: string | number; at: number; retryAfter?: boolean }> = [];
  const load = startIngestLoad({
    base: () => server.url, tenant, clients: 3, rowsPerBatch: 100, retryDelayMs: 100,
    hardDeadline: performance.now() + options.budgetMs - 10_000,
    onAnswer: (outcome, at) => answers.push({ outcome, at }),
  });
  const reads = new Outcomes();
  let reading = true;
  const readers = Promise.all([0, 1].map(async () => {
    while (reading) {
      const answer = await outcomeOf(call(server.url, 'GET', '/v1/activities?limit=5', { key: tenant.key, timeoutMs: 5000 }));
      const outcome = typeof answer === 'string' ? answer : answer.status;
      reads.add(outcome);
      answers.push({ outcome, at: performance.now(), retryAfter: typeof answer !== 'string' && answer.headers.has('retry-after') });
      await sleep(50);
    }
  }));

  await sleep(2000);
  await postgres.stop('immediate');
  // The outage as clients see it: from the server gone (pg_ctl -w returns then) to its start.
  const down = performance.now();
  await sleep(OUTAGE_MS);
  const restarting = performance.now();
  await postgres.start();
  // pg_ctl -w returns once the server accepts connections.
  const up = performance.now();
  const succeeded = (answer: { outcome: string | number; at: number }) => typeof answer.outcome === 'number' && answer.outcome < 300 && answer.at >= up;
  while (!answers.some(succeeded) && performance.now() - up < 15_000) await sleep(10);
  const firstSuccess = answers.find(succeeded);
  await sleep(2000);
  reading = false;
  await Promise.all([load.stop(), readers]);
  await server.kill('SIGTERM');

  const ledger = await load.ledger(databaseUrl);
  const during = new Outcomes();
  for (const answer of answers.filter(({ at }) => at > down && at < restarting)) during.add(answer.outcome);
  const wrongDuringOutage = answers.filter(({ outcome, at }) => at > down && at < restarting && typeof outcome === 'number' && outcome >= 500 && outcome !== 503);
  const readsWithoutRetryAfter = answers.filter(({ outcome, retryAfter }) => outcome === 503 && retryAfter === false).length;
  const all = new Outcomes();
  for (const { outcome } of answers) all.add(outcome);
  return {
    sent: ledger.sent,
    acknowledged: ledger.acknowledged,
    stored: ledger.stored,
    lost: ledger.lost,
    duplicated: ledger.duplicated,
    stale: 0,
    failed: all.failures(),
    recoveryMs: firstSuccess ? firstSuccess.at - up : null,
    notes: [
      `rows, in batches of 100 from 3 ingest clients, beside 2 readers; PostgreSQL down ${OUTAGE_MS / 1000} s (crash, then start)`,
      `answers while it was down: ${during.failures()}, 2xx ${answers.filter(({ outcome, at }) => at > down && at < restarting && typeof outcome === 'number' && outcome < 300).length}`,
      `recovery: PostgreSQL accepting connections → first 2xx (ingest or read)`,
    ],
    violations: [
      ...(ledger.partial ? [`${ledger.partial} batches stored in part`] : []),
      ...(wrongDuringOutage.length ? [`${wrongDuringOutage.length} answers other than 503 (5xx) during the outage`] : []),
      ...(readsWithoutRetryAfter ? [`${readsWithoutRetryAfter} 503 answers without Retry-After`] : []),
      ...(firstSuccess ? [] : ['no 2xx within 15 s of PostgreSQL accepting connections']),
    ],
  };
}
