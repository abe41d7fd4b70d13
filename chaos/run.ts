import { etlKill } from './etl-kill.js';
import { failedRun, printOutcome, type Figures, type Outcome } from './support/figures.js';
import { ingestKill } from './ingest-kill.js';
import { postgresRestart } from './postgres-restart.js';
import { redisStall } from './redis-stall.js';
import { Scope } from './support/processes.js';
import { random } from './support/traffic.js';

/**
 * The fault suite (`npm run chaos`): each scenario breaks one thing under traffic to 127.0.0.1,
 * within a fixed budget, then undoes everything it started. Exits 1 when any acknowledged write was
 * lost or duplicated, a stale value or revoked key was served, or a scenario could not finish.
 */
interface Scenario {
  name: string;
  budgetMs: number;
  run(scope: Scope, options: { serverUrl: string; random: () => number; budgetMs: number }): Promise<Figures>;
}

const scenarios: Scenario[] = [
  { name: 'ingest: strata serve SIGKILLed, clients retry with their Idempotency-Key', budgetMs: 60_000, run: ingestKill },
  { name: 'PostgreSQL crash and restart under load', budgetMs: 60_000, run: postgresRestart },
  { name: 'Redis stalled, cut and restarted under a writer and a reader instance', budgetMs: 60_000, run: redisStall },
  { name: 'analytics run SIGKILLed mid-way, then one run to the end', budgetMs: 90_000, run: etlKill },
];

const only = process.argv.slice(2);
const seed = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const serverUrl = process.env.DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/postgres';
if (!/^postgres(ql)?:\/\/[^/]*@?(127\.0\.0\.1|localhost)[:/]/.test(serverUrl)) {
  console.error(`DATABASE_URL must point to 127.0.0.1: the suite creates and drops databases on it (${serverUrl})`);
  process.exit(2);
}
console.log(`strata chaos: CHAOS_SEED=${seed}, scratch databases on ${serverUrl.replace(/\/[^/]*$/, '')}`);

let current: Scope | undefined;
// Ctrl-C still undoes what the running scenario started.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`${signal}: cleaning up`);
    void (current?.close() ?? Promise.resolve()).finally(() => process.exit(130));
  });
}

const outcomes: Outcome[] = [];
for (const scenario of scenarios.filter((_candidate, index) => only.length === 0 || only.includes(String(index + 1)))) {
  const scope = new Scope();
  current = scope;
  const started = performance.now();
  const outcome: Outcome = { name: scenario.name, budgetMs: scenario.budgetMs, tookMs: 0 };
  let timer: NodeJS.Timeout | undefined;
  try {
    const overBudget = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`over its budget of ${scenario.budgetMs / 1000} s`)), scenario.budgetMs);
    });
    outcome.figures = await Promise.race([scenario.run(scope, { serverUrl, random: random(seed + outcomes.length), budgetMs: scenario.budgetMs }), overBudget]);
  } catch (error) {
    outcome.error = (error as Error).message;
  } finally {
    clearTimeout(timer);
    await scope.close();
  }
  outcome.tookMs = performance.now() - started;
  printOutcome(outcome);
  outcomes.push(outcome);
}

const failed = outcomes.filter(failedRun);
console.log(`\n${outcomes.length - failed.length} of ${outcomes.length} scenarios kept their promises`);
process.exit(failed.length ? 1 : 0);
