import type { Database } from '../src/db/database.js';
import { runHostileBodiesBench } from './hostile-bodies.js';
import { runCacheBench } from './cache.js';
import { runEtlBench } from './etl.js';
import { runCliBench } from './cli.js';
import { runClusterBench } from './cluster.js';
import { runDashboardBench } from './dashboard.js';
import { runFloodBench } from './flood.js';
import { runHttpIngestBench } from './http-ingest.js';
import { runIngestBench } from './ingest.js';
import { runLoadAndQueryBench } from './load-and-query.js';
import { runMemoryBench } from './memory.js';
import { msSince, startBenchServer, type BenchServer } from './support.js';

/**
 * `npm run bench [-- --quick] [-- --only ingest,query,…]`: every suite on a fresh scratch database of
 * its own (DATABASE_URL's server, or an embedded one), tables printed, JSON in bench/results/.
 */
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex >= 0 ? new Set(args[onlyIndex + 1]?.split(',')) : null;

interface Suite {
  name: string;
  run(server: BenchServer): Promise<unknown>;
}

/** A suite that needs only a fresh database of its own. */
function databaseSuite(name: string, run: (database: Database) => Promise<unknown>): Suite {
  return { name, run: async (server) => run(await server.freshDatabase(name)) };
}

const suites: Suite[] = [
  { name: 'ingest', run: (server) => runIngestBench(server, { quick }) },
  { name: 'query', run: (server) => runLoadAndQueryBench(server, { quick }) },
  { name: 'http-ingest', run: (server) => runHttpIngestBench(server, { quick }) },
  { name: 'memory', run: (server) => runMemoryBench(server, { quick }) },
  { name: 'hostile-bodies', run: (server) => runHostileBodiesBench(server, { quick }) },
  { name: 'flood', run: (server) => runFloodBench(server, { quick }) },
  { name: 'cluster', run: (server) => runClusterBench(server, { quick }) },
  { name: 'cli', run: (server) => runCliBench(server, { quick }) },
  { name: 'dashboard', run: (server) => runDashboardBench(server, { quick }) },
  databaseSuite('cache', (database) => runCacheBench(database)),
  databaseSuite('etl', (database) => runEtlBench(database)),
];

const started = process.hrtime.bigint();
const server = await startBenchServer();
console.log(`Strata benchmarks${quick ? ' (--quick)' : ''} on ${server.embedded ? 'an embedded PostgreSQL' : 'DATABASE_URL\'s server'}, `
  + `Node ${process.version}, ${(await import('node:os')).cpus().length} cores`);
let failed = false;
try {
  for (const suite of suites) {
    if (only && !only.has(suite.name)) continue;
    const suiteStarted = process.hrtime.bigint();
    try {
      await suite.run(server);
    } catch (error) {
      failed = true;
      console.error(`\n${suite.name}: failed: ${(error as Error).stack ?? String(error)}`);
    }
    console.log(`(${suite.name}: ${(msSince(suiteStarted) / 1000).toFixed(1)} s)`);
  }
} finally {
  await server.stop();
}
console.log(`\nAll suites done in ${(msSince(started) / 1000).toFixed(1)} s.`);
process.exit(failed ? 1 : 0);
