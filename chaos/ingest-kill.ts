import { generateAdminKey } from '../src/services/api-keys.js';
import type { Figures } from './support/figures.js';
import { startIngestLoad } from './support/ingest-load.js';
import { freePort, scratchDatabase, sleep, startServer, type Scope, type ServerProcess } from './support/processes.js';
import { tenantWithUser } from './support/traffic.js';

const KILLS = 3;

/**
 * `strata serve` is SIGKILLed three times while four clients post batches, and restarted on the
 * same port; every batch not acknowledged is retried with its Idempotency-Key. Every acknowledged
 * row must be stored once, and every batch stored whole or not at all.
 */
export async function ingestKill(scope: Scope, options: { serverUrl: string; random: () => number; budgetMs: number }): Promise<Figures> {
  const databaseUrl = await scratchDatabase(scope, options.serverUrl, 'ingest_kill');
  const port = await freePort();
  const env = { DATABASE_URL: databaseUrl, STRATA_ADMIN_KEY: generateAdminKey() };
  let server: ServerProcess = await startServer(scope, port, env);
  const tenant = await tenantWithUser(server.url, env.STRATA_ADMIN_KEY, 'ingest-kill');
  const load = startIngestLoad({
    base: () => server.url, tenant, clients: 4, rowsPerBatch: 500, retryDelayMs: 100,
    hardDeadline: performance.now() + options.budgetMs - 10_000,
  });
  const recoveries: number[] = [];
  for (let kill = 0; kill < KILLS; kill += 1) {
    await sleep(1000 + options.random() * 2000);
    await server.kill('SIGKILL');
    server = await startServer(scope, port, env);
    const listening = server.listeningAt;
    // Recovery: from the restarted server listening to the first batch it acknowledges.
    while (!load.acknowledgedAt.some((at) => at >= listening) && performance.now() - listening < 15_000) await sleep(10);
    const first = load.acknowledgedAt.find((at) => at >= listening);
    if (first !== undefined) recoveries.push(first - listening);
  }
  await sleep(1000);
  await load.stop();
  await server.kill('SIGTERM');
  const ledger = await load.ledger(databaseUrl);
  return {
    sent: ledger.sent,
    acknowledged: ledger.acknowledged,
    stored: ledger.stored,
    lost: ledger.lost,
    duplicated: ledger.duplicated,
    stale: 0,
    failed: load.outcomes.failures(),
    recoveryMs: recoveries.length ? Math.max(...recoveries) : null,
    notes: [
      `rows, in batches of 500 (activities and events alternately) from 4 clients; ${KILLS} SIGKILLs`,
      `${load.replayed} batches acknowledged by a replay (stored by an attempt whose answer was lost)`,
      ...(ledger.unacknowledged ? [`${ledger.unacknowledged} batches still unacknowledged at the deadline`] : []),
      `recovery: restarted server listening → its first acknowledged batch, worst of ${recoveries.length} (${recoveries.map((ms) => Math.round(ms)).join(', ')} ms)`,
    ],
    violations: ledger.partial ? [`${ledger.partial} batches stored in part`] : [],
  };
}
