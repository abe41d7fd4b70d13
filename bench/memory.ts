import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { sql } from 'kysely';
import { ensureMonthlyPartitions } from '../src/db/activity-partitions.js';
import { activityRows, createTenantsAndUsers, printTable, round, startApiServer, tenantKeys, writeResults, type BenchServer } from './support.js';

const MB = 1024 * 1024;

// `npm run bench` starts node without --expose-gc; the flag can still be set before gc is looked up.
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

function settle(): NodeJS.MemoryUsage {
  collect();
  collect();
  return process.memoryUsage();
}

interface Sampled {
  peakHeap: number;
  peakRss: number;
}

/** Samples this process's memory every 2 ms while fn runs. */
async function sampled<T>(fn: () => Promise<T>): Promise<Sampled & { result: T }> {
  const peak = { peakHeap: 0, peakRss: 0 };
  const take = () => {
    const usage = process.memoryUsage();
    peak.peakHeap = Math.max(peak.peakHeap, usage.heapUsed);
    peak.peakRss = Math.max(peak.peakRss, usage.rss);
  };
  const timer = setInterval(take, 2);
  try {
    const result = await fn();
    take();
    return { ...peak, result };
  } finally {
    clearInterval(timer);
  }
}

/**
 * What one 10,000-row POST /v1/activities costs the server process in memory: the peak over a settled
 * baseline while it runs, and what is left after it (a leak or a cache would show as growth from the
 * first request to the last). The client shares the process, its body serialized once beforehand.
 */
export async function runMemoryBench(server: BenchServer, options: { quick?: boolean } = {}) {
  const requests = options.quick ? 5 : 20;
  const database = await server.freshDatabase('memory');
  await ensureMonthlyPartitions(database, { monthsBack: 3 });
  const { tenantIds, userIds } = await createTenantsAndUsers(database, 1, 1_000, 'memory');
  const [key] = await tenantKeys(database, tenantIds);
  const api = await startApiServer(database);
  const results: { rows: number; bodyMb: number; peakHeapDeltaMb: number; peakRssDeltaMb: number; retainedFirstMb: number; retainedLastMb: number }[] = [];
  try {
    for (const rows of [1_000, 10_000]) {
      const body = JSON.stringify({
        activities: activityRows(rows, userIds[0]!).map((row) => ({ userId: row.user_id, type: row.activity_type, metadata: row.metadata, createdAt: row.created_at })),
      });
      const post = async () => {
        const response = await fetch(`${api.origin}/v1/activities`, {
          method: 'POST', body, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        });
        await response.arrayBuffer();
        if (response.status !== 201) throw new Error(`POST /v1/activities answered ${response.status}`);
      };
      await post();
      const baseline = settle();
      let peakHeap = 0;
      let peakRss = 0;
      const retained: number[] = [];
      for (let index = 0; index < requests; index += 1) {
        const run = await sampled(post);
        peakHeap = Math.max(peakHeap, run.peakHeap);
        peakRss = Math.max(peakRss, run.peakRss);
        retained.push(settle().heapUsed - baseline.heapUsed);
      }
      results.push({
        rows,
        bodyMb: round(Buffer.byteLength(body) / MB),
        peakHeapDeltaMb: round((peakHeap - baseline.heapUsed) / MB),
        peakRssDeltaMb: round((peakRss - baseline.rss) / MB),
        retainedFirstMb: round(retained[0]! / MB),
        retainedLastMb: round(retained.at(-1)! / MB),
      });
    }
  } finally {
    await api.close();
  }
  await sql`truncate user_activity`.execute(database.admin);
  printTable(`Memory of POST /v1/activities in the server process (${requests} sequential requests per size, heap settled by gc between)`, [
    ['rows', 'body MB', 'peak heap over baseline MB', 'peak RSS over baseline MB', 'heap kept after 1st MB', `heap kept after ${requests}th MB`],
    ...results.map((result) => [result.rows, result.bodyMb, result.peakHeapDeltaMb, result.peakRssDeltaMb, result.retainedFirstMb, result.retainedLastMb]),
  ]);
  const output = { requests, results };
  console.log(`written to ${await writeResults('memory', output)}`);
  return output;
}
