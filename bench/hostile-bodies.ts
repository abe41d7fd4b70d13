import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createTenantsAndUsers, median, printTable, round, startApiServer, tenantKeys, writeResults, type BenchServer } from './support.js';

interface Case {
  label: string;
  method: 'PATCH' | 'POST';
  url: (userId: number) => string;
  payload: (userId: number) => string;
}

const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const settings = (userId: number) => `/v1/users/${userId}/settings`;

const baseline: Case = { label: 'baseline: small settings patch', method: 'PATCH', url: settings, payload: () => '{"theme":"dark"}' };

const smallRefusal: Case = { label: 'baseline: small refused settings patch (NUL)', method: 'PATCH', url: settings, payload: () => '{"k":"\\u0000"}' };

const cases: Case[] = [
  smallRefusal,
  { label: 'settings, object 20,000 deep', method: 'PATCH', url: settings, payload: () => deepObject(20_000) },
  { label: 'settings, object 100,000 deep', method: 'PATCH', url: settings, payload: () => deepObject(100_000) },
  { label: 'settings, array 500,000 deep (1 MB)', method: 'PATCH', url: settings, payload: () => deepArray(500_000) },
  { label: 'settings, object 500,000 deep (2.5 MB)', method: 'PATCH', url: settings, payload: () => deepObject(500_000) },
  { label: 'user with settings 100,000 deep', method: 'POST', url: () => '/v1/users', payload: () => `{"email":"a@b.c","username":"a","settings":${deepObject(100_000)}}` },
  { label: 'settings, 100,000 NUL strings', method: 'PATCH', url: settings, payload: () => `{"k":[${Array(100_000).fill('"\\u0000"').join(',')}]}` },
  { label: 'settings, 1 MB string ending in NUL', method: 'PATCH', url: settings, payload: () => `{"k":"${'x'.repeat(1_000_000)}\\u0000"}` },
  {
    label: 'user, 100,000 unknown keys',
    method: 'POST',
    url: () => '/v1/users',
    payload: () => `{${Array.from({ length: 100_000 }, (_, index) => `"${index.toString(36)}":0`).join(',')}}`,
  },
  { label: 'product, 100,000 numbers as tags', method: 'POST', url: () => '/v1/products', payload: () => `{"name":"p","slug":"p","tags":[${Array(100_000).fill(1).join(',')}]}` },
  {
    label: 'activities, metadata 500,000 deep (2.5 MB)',
    method: 'POST',
    url: () => '/v1/activities',
    payload: (userId) => `{"activities":[{"userId":${userId},"type":"x","metadata":${deepObject(500_000)}}]}`,
  },
];

/**
 * `npm run bench -- --only hostile-bodies`: the time to refuse each worst-case body within (or just
 * past) the limits, over HTTP, against a small valid request in the same run, with the longest
 * event-loop stall each caused (every other request waits that long).
 */
export async function runHostileBodiesBench(server: BenchServer, options: { quick?: boolean } = {}) {
  const runs = options.quick ? 3 : 7;
  const database = await server.freshDatabase('hostile_bodies');
  const { tenantIds, userIds } = await createTenantsAndUsers(database, 1, 1, 'hostile');
  const [key] = await tenantKeys(database, tenantIds);
  const userId = userIds[0]![0]!;
  const api = await startApiServer(database);
  const measure = async (entry: Case) => {
    const payload = entry.payload(userId);
    const times: number[] = [];
    let status = 0;
    let errorBytes = 0;
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    for (let run = 0; run < runs; run++) {
      const start = process.hrtime.bigint();
      const response = await fetch(`${api.origin}${entry.url(userId)}`, {
        method: entry.method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: payload,
      });
      const body = await response.text();
      times.push(Number(process.hrtime.bigint() - start) / 1e6);
      status = response.status;
      errorBytes = status >= 400 ? Buffer.byteLength(body) : 0;
    }
    delay.disable();
    return { label: entry.label, bodyBytes: Buffer.byteLength(payload), status, errorBytes, medianMs: round(median(times)), maxLoopDelayMs: round(delay.max / 1e6) };
  };
  let results;
  try {
    const reference = await measure(baseline);
    results = [reference];
    for (const entry of cases) results.push(await measure(entry));
    const ratio = (ms: number) => round(ms / reference.medianMs, 1);
    printTable(`Hostile bodies: time to answer over HTTP on 127.0.0.1, median of ${runs}, against a small valid request in the same run`, [
      ['request', 'body bytes', 'status', 'error bytes', 'median ms', '× baseline', 'max event-loop delay ms'],
      ...results.map((row) => [row.label, row.bodyBytes, row.status, row.errorBytes, row.medianMs, ratio(row.medianMs), row.maxLoopDelayMs]),
    ]);
  } finally {
    await api.close();
  }
  const output = { runs, results };
  console.log(`written to ${await writeResults('hostile-bodies', output)}`);
  return output;
}
