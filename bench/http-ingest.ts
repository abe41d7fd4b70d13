import { fork } from 'node:child_process';
import { sql } from 'kysely';
import { ensureMonthlyPartitions } from '../src/db/activity-partitions.js';
import type { LoadReport, LoadRequest } from './load-client.js';
import {
  createTenantsAndUsers, printCacheLayers, printTable, round, startApiServer, tenantKeys, writeResults, type BenchServer,
} from './support.js';

const TARGET_ROWS_PER_SECOND = 50_000;
export const BATCH = 1_000;
export const CONNECTIONS = 4;

/** Runs the load client in a process of its own, so that its work does not share the server's event loop. */
export function runLoadClient(load: LoadRequest): Promise<LoadReport> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./load-client.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (report) => resolve(report as LoadReport));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`load client exited with ${code}`))));
    child.send(load);
  });
}

export async function runHttpIngestBench(server: BenchServer, options: { quick?: boolean } = {}) {
  const seconds = options.quick ? 5 : 20;
  const database = await server.freshDatabase('http_ingest');
  await ensureMonthlyPartitions(database, { monthsBack: 3 });
  const { tenantIds, userIds } = await createTenantsAndUsers(database, CONNECTIONS * 2, 100, 'http');
  const keys = await tenantKeys(database, tenantIds);
  const api = await startApiServer(database);
  let report: LoadReport;
  let cache;
  try {
    report = await runLoadClient({ origin: api.origin, keys, userIds, batch: BATCH, connections: CONNECTIONS, seconds });
    cache = api.cacheStats();
  } finally {
    await api.close();
  }
  const { rows: [stored] } = await sql<{ rows: number }>`select count(*)::int as rows from user_activity`.execute(database.admin);
  if (stored!.rows !== report.rowsAccepted) throw new Error(`the server acknowledged ${report.rowsAccepted} rows but stored ${stored!.rows}`);
  const rowsPerSecond = Math.round(report.rowsAccepted / report.seconds);
  printTable(`HTTP ingest: POST /v1/activities, ${BATCH.toLocaleString('en-US')}-row batches, ${CONNECTIONS} keep-alive connections from another process, ${seconds} s on 127.0.0.1`, [
    ['requests', 'rows stored', 'rows/s', 'requests/s', 'median ms', 'p99 ms', 'non-201', 'target rows/s', 'met'],
    [report.requests, report.rowsAccepted, rowsPerSecond, round(report.requests / report.seconds, 1), report.medianMs, report.p99Ms, report.failed,
      `≥ ${TARGET_ROWS_PER_SECOND.toLocaleString('en-US')}`, rowsPerSecond >= TARGET_ROWS_PER_SECOND ? 'yes' : 'NO'],
  ]);
  const cacheLayers = printCacheLayers('Cache layers during the HTTP ingest (each request authenticates through the session cache)', cache);
  const output = { ...report, rowsPerSecond, batch: BATCH, connections: CONNECTIONS, targetRowsPerSecond: TARGET_ROWS_PER_SECOND, cacheLayers };
  console.log(`written to ${await writeResults('http-ingest', output)}`);
  return output;
}
