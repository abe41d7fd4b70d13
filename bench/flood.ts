import { fork } from 'node:child_process';
import { sql } from 'kysely';
import { ensureMonthlyPartitions } from '../src/db/activity-partitions.js';
import { loadConfig } from '../src/config.js';
import type { FloodReport, FloodRequest } from './flood-client.js';
import { createTenantsAndUsers, printTable, round, startApiServer, tenantKeys, writeResults, type BenchServer } from './support.js';

const BATCH = 10_000;
const CONNECTIONS = 100;
const MB = 1024 * 1024;

function runFloodClient(load: FloodRequest): Promise<FloodReport> {
  return new Promise((resolve, reject) => {
    const child = fork(new URL('./flood-client.ts', import.meta.url), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (report) => resolve(report as FloodReport));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? undefined : reject(new Error(`flood client exited with ${code}`))));
    child.send(load);
  });
}

/**
 * The fault report's flood, shortened: 100 connections post 10,000-row batches at the API (in this
 * process) from another process, while a reader times its reads, alone first, then under the flood.
 * The server's RSS is sampled throughout; the rows stored must be exactly the rows acknowledged.
 */
export async function runFloodBench(server: BenchServer, options: { quick?: boolean } = {}) {
  const floodSeconds = options.quick ? 8 : 15;
  const idleSeconds = options.quick ? 2 : 4;
  const database = await server.freshDatabase('flood');
  await ensureMonthlyPartitions(database, { monthsBack: 3 });
  const { tenantIds, userIds } = await createTenantsAndUsers(database, 5, 100, 'flood');
  const keys = await tenantKeys(database, tenantIds);
  const config = loadConfig({});
  // The flood is many keys' worth of traffic; the per-key limit is not what is measured here.
  const api = await startApiServer(database, { RATE_LIMIT_PER_MINUTE: '0' });
  const rss = () => process.memoryUsage().rss / MB;
  global.gc?.();
  const rssBefore = rss();
  let rssPeak = rssBefore;
  const sampler = setInterval(() => { rssPeak = Math.max(rssPeak, rss()); }, 50);
  let report: FloodReport;
  try {
    report = await runFloodClient({
      origin: api.origin, floodKeys: keys.slice(1), floodUserIds: userIds.slice(1), readerKey: keys[0]!, readerUserId: userIds[0]![0]!,
      batch: BATCH, connections: CONNECTIONS, idleSeconds, floodSeconds, clientTimeoutMs: 10_000,
    });
  } finally {
    clearInterval(sampler);
    await api.close();
  }
  const rssAfter = rss();
  const { rows: [stored] } = await sql<{ rows: number }>`select count(*)::int as rows from user_activity`.execute(database.admin);
  const committedAfterClientLeft = stored!.rows - report.rowsAccepted;
  const ratio = round(report.floodReads.p99Ms / report.idleReads.p99Ms, 1);
  const rowsPerSecond = Math.round(report.rowsAccepted / report.floodSeconds);
  printTable(`Ingest flood: ${CONNECTIONS} connections posting ${BATCH.toLocaleString('en-US')}-row batches for ${floodSeconds} s from another process, `
    + `one reader (GET /v1/activities?limit=10), 127.0.0.1; in flight ≤ ${config.INGEST_MAX_INFLIGHT_BYTES / MB} MiB, queue ${config.INGEST_QUEUE_LENGTH}, ingest pool ${config.INGEST_POOL_SIZE}`, [
    ['reads', 'count', 'median ms', 'p99 ms', 'max ms'],
    ['idle (baseline)', report.idleReads.count, report.idleReads.medianMs, report.idleReads.p99Ms, report.idleReads.maxMs],
    ['under the flood', report.floodReads.count, report.floodReads.medianMs, report.floodReads.p99Ms, report.floodReads.maxMs],
    ['ratio (flood / idle)', '', round(report.floodReads.medianMs / report.idleReads.medianMs, 1), ratio, ''],
    ['first read after the flood', 1, report.firstReadAfterMs, '', ''],
  ]);
  printTable('Ingest during the flood', [
    ['accepted (201)', 'rows/s', 'accepted median ms', 'accepted p99 ms', '503 OVERLOADED', '429', 'client gave up (10 s)', 'other failures', 'committed after the client left'],
    [report.accepted, rowsPerSecond, report.acceptedMedianMs, report.acceptedP99Ms, report.overloaded, report.rateLimited, report.gaveUp, report.otherFailures, committedAfterClientLeft],
  ]);
  printTable('Server RSS (MB, this process: API, pools and bench harness)', [
    ['before', 'peak during the flood', 'after', 'peak − before'],
    [round(rssBefore, 1), round(rssPeak, 1), round(rssAfter, 1), round(rssPeak - rssBefore, 1)],
  ]);
  const output = {
    ...report, rowsPerSecond, readP99Ratio: ratio, committedAfterClientLeft, batch: BATCH, connections: CONNECTIONS,
    rssMb: { before: round(rssBefore, 1), peak: round(rssPeak, 1), after: round(rssAfter, 1) },
    admission: { maxInflightBytes: config.INGEST_MAX_INFLIGHT_BYTES, queueLength: config.INGEST_QUEUE_LENGTH, queueTimeoutMs: config.INGEST_QUEUE_TIMEOUT_MS },
  };
  console.log(`written to ${await writeResults('flood', output)}`);
  return output;
}
