import { sql } from 'kysely';
import { Agent, request } from 'node:http';
import { ensureMonthlyPartitions } from '../src/db/activity-partitions.js';
import { copyChunks, copyInto, type BatchColumn } from '../src/db/copy.js';
import type { Database } from '../src/db/database.js';
import { scopeTransaction, withTenant } from '../src/db/tenant.js';
import { ActivityRepository } from '../src/repositories/activity-repository.js';
import {
  ACTIVITY_TYPES, activityRows, createTenantsAndUsers, median, percentile, printCacheLayers, printTable, round, startApiServer, tenantKeys, timed,
  truncateActivities, writeResults, type BenchServer,
} from './support.js';
import { activityBatchOf } from '../src/models/activity.js';

type Row = ReturnType<typeof activityRows>[number];

const TENANTS = 100;
// The seed's stack (Django + psycopg2): figures quoted by the ingestion issue, not measured by this run.
const DJANGO = { loadSeconds: [71, 87], queryMedianMs: 8.7, queryP99Ms: 15 };
const TARGET = { loadSeconds: 10, sqlMedianMs: 0.5, sqlP99Ms: 2, httpP99Ms: 5 };
const QUERIES = 1_000;
/** Users per tenant that the cached-read mix asks for: real traffic concentrates on a few. */
const HOT_USERS = 20;
/** Concurrent loaders: one per core of this machine, each a tenant's transaction at a time. */
export const LOADERS = 2;

/** Runs `load(tenantIndex)` for every tenant, LOADERS at a time. */
export async function perTenant(count: number, load: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: LOADERS }, async () => {
    while (next < count) {
      const index = next;
      next += 1;
      await load(index);
    }
  }));
}

function rawColumns(tenantId: number): BatchColumn<Row>[] {
  return [
    { name: 'tenant_id', type: 'bigint', value: () => tenantId },
    { name: 'user_id', type: 'bigint', value: (row) => row.user_id },
    { name: 'activity_type', type: 'text', value: (row) => row.activity_type },
    { name: 'metadata', type: 'jsonb', value: (row) => JSON.stringify(row.metadata) },
    { name: 'created_at', type: 'timestamptz', value: (row) => row.created_at },
  ];
}

function stats(samples: number[]) {
  return { medianMs: round(median(samples), 3), p99Ms: round(percentile(samples, 99), 3), count: samples.length };
}

/** A deterministic spread of (tenant, type) pairs, the same for every way of asking. */
function* askings(count: number): Generator<{ tenant: number; type: string }> {
  for (let index = 0; index < count; index += 1) yield { tenant: (index * 37) % TENANTS, type: ACTIVITY_TYPES[(index * 7) % ACTIVITY_TYPES.length]! };
}

async function sqlLatencies(database: Database, tenantIds: number[]) {
  const inTransaction: number[] = [];
  for (const { tenant, type } of askings(QUERIES)) {
    inTransaction.push((await timed(() => withTenant(database, { tenantId: tenantIds[tenant]! }, (trx) => new ActivityRepository(trx).recentActivity({ type, limit: 10 })))).ms);
  }
  // The statement alone: each tenant's transaction is opened once and asked ten times.
  const statementOnly: number[] = [];
  const apiStatement: number[] = [];
  for (let tenant = 0; tenant < TENANTS; tenant += 1) {
    await database.admin.transaction().execute(async (transaction) => {
      const activities = new ActivityRepository(await scopeTransaction(transaction, { tenantId: tenantIds[tenant]! }));
      for (let ask = 0; ask < QUERIES / TENANTS; ask += 1) {
        const type = ACTIVITY_TYPES[(tenant + ask) % ACTIVITY_TYPES.length]!;
        statementOnly.push((await timed(() => activities.recentActivity({ type, limit: 10 }))).ms);
        apiStatement.push((await timed(() => activities.list({ type, limit: 10 }))).ms);
      }
    });
  }
  return { inTransaction: stats(inTransaction), statementOnly: stats(statementOnly), apiStatement: stats(apiStatement) };
}

/** Day strings (UTC) of the last `days` days, for analytics queries. */
function lastDays(days: number): { from: string; to: string } {
  const to = new Date();
  const from = new Date(to.getTime() - days * 86_400_000);
  return { from: from.toISOString().slice(0, 10), to: to.toISOString().slice(0, 10) };
}

async function httpLatencies(database: Database, tenantIds: number[], userIds: number[][]) {
  const keys = await tenantKeys(database, tenantIds);
  const server = await startApiServer(database);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const get = (path: string, key: string, etag?: string) => new Promise<{ status: number; etag?: string }>((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${key}`, ...(etag ? { 'if-none-match': etag } : {}) };
    const request_ = request(`${server.origin}${path}`, { agent, headers }, (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode ?? 0, etag: response.headers.etag }));
    });
    request_.on('error', reject);
    request_.end();
  });
  try {
    // Warm-up: each key's first request authenticates against the database, later ones hit the session cache.
    for (const key of keys) await get('/v1/activities?limit=1', key);
    const samples: number[] = [];
    for (const { tenant, type } of askings(QUERIES)) {
      const { ms, result } = await timed(() => get(`/v1/activities?type=${type}&limit=10`, keys[tenant]!));
      if (result.status !== 200) throw new Error(`GET /v1/activities answered ${result.status}`);
      samples.push(ms);
    }
    // Reads through the other layers: profiles (query cache) of a hot set of users, analytics
    // (response cache), and every other request revalidating what it already holds (ETag → 304).
    const { from, to } = lastDays(28);
    const held = new Map<string, string>();
    const cached: number[] = [];
    for (let index = 0; index < QUERIES; index += 1) {
      const tenant = (index * 37) % TENANTS;
      const path = index % 4 === 3 ? `/v1/analytics/active-users?from=${from}&to=${to}`
        : `/v1/users/${userIds[tenant]![(index * 13) % HOT_USERS]!}/full`;
      const { ms, result } = await timed(() => get(path, keys[tenant]!, index % 2 === 0 ? held.get(`${tenant} ${path}`) : undefined));
      if (result.status !== 200 && result.status !== 304) throw new Error(`GET ${path} answered ${result.status}`);
      if (result.etag) held.set(`${tenant} ${path}`, result.etag);
      cached.push(ms);
    }
    return { activities: stats(samples), cachedReads: stats(cached), cacheLayers: server.cacheStats() };
  } finally {
    agent.destroy();
    await server.close();
  }
}

export async function runLoadAndQueryBench(server: BenchServer, options: { quick?: boolean } = {}) {
  const total = options.quick ? 200_000 : 1_000_000;
  const usersPerTenant = options.quick ? 100 : 1_000;
  const perTenantRows = total / TENANTS;
  const database = await server.freshDatabase('query');
  await ensureMonthlyPartitions(database, { monthsBack: 3 });
  const { tenantIds, userIds } = await createTenantsAndUsers(database, TENANTS, usersPerTenant, 'query');
  const batch = (index: number) => activityRows(perTenantRows, userIds[index]!, index * perTenantRows);

  // The ceiling first: the same rows, the same per-tenant batches and concurrency, raw COPY as the owner.
  const raw = await timed(() => perTenant(TENANTS, (index) => database.admin.transaction().execute((trx) => {
    const columns = rawColumns(tenantIds[index]!);
    return copyInto(trx, 'user_activity', columns.map((column) => column.name), copyChunks(columns, batch(index)));
  })));
  await truncateActivities(database, { checkpoint: true });
  const load = await timed(() => perTenant(TENANTS, (index) => withTenant(database, { tenantId: tenantIds[index]! },
    (trx) => new ActivityRepository(trx).insertBatch(activityBatchOf(batch(index))))));
  const { rows: [counted] } = await sql<{ rows: number }>`select count(*)::int as rows from user_activity`.execute(database.admin);
  if (counted!.rows !== total) throw new Error(`loaded ${counted!.rows} rows, expected ${total}`);
  await sql`vacuum analyze user_activity`.execute(database.admin);

  const sqlLevel = await sqlLatencies(database, tenantIds);
  const { activities: http, cachedReads, cacheLayers: layerStats } = await httpLatencies(database, tenantIds, userIds);

  const loadSeconds = round(load.ms / 1000, 2);
  printTable(`Load ${total.toLocaleString('en-US')} activities (${TENANTS} tenants × ${usersPerTenant.toLocaleString('en-US')} users, one ${perTenantRows.toLocaleString('en-US')}-row batch per tenant, ${LOADERS} at a time)`, [
    ['method', 'seconds', 'rows/s', 'vs raw COPY', 'Django (quoted) s', 'target'],
    ['Strata ingest service', loadSeconds, Math.round(total / (load.ms / 1000)), `${Math.round((raw.ms / load.ms) * 100)}%`, `${DJANGO.loadSeconds[0]}–${DJANGO.loadSeconds[1]}`, `≤ ${TARGET.loadSeconds} s`],
    ['raw COPY as the owner (ceiling)', round(raw.ms / 1000, 2), Math.round(total / (raw.ms / 1000)), '100%', '', ''],
  ]);
  const row = (name: string, measured: ReturnType<typeof stats>, target: string) => [
    name, measured.medianMs, measured.p99Ms, `${DJANGO.queryMedianMs} / ${DJANGO.queryP99Ms}`,
    `${round(DJANGO.queryMedianMs / measured.medianMs, 1)}x / ${round(DJANGO.queryP99Ms / measured.p99Ms, 1)}x`, target,
  ];
  printTable(`"10 most recent of type X" for one tenant at ${total.toLocaleString('en-US')} rows, ${QUERIES} queries each`, [
    ['how', 'median ms', 'p99 ms', 'Django (quoted) median / p99 ms', 'Django (quoted) / ours', 'target'],
    row('SQL: recentActivity (with user), statement alone', sqlLevel.statementOnly, `≤ ${TARGET.sqlMedianMs} / ${TARGET.sqlP99Ms} ms`),
    row('SQL: recentActivity in its own tenant transaction', sqlLevel.inTransaction, ''),
    row('SQL: the API\'s list query, statement alone', sqlLevel.apiStatement, ''),
    row('HTTP: GET /v1/activities?type=X&limit=10 (keep-alive)', http, `p99 ≤ ${TARGET.httpP99Ms} ms`),
  ]);
  printTable(`HTTP reads through the caches: ${QUERIES} GETs of profiles (/v1/users/:id/full, ${HOT_USERS} per tenant) and active users, half with If-None-Match`, [
    ['median ms', 'p99 ms'], [cachedReads.medianMs, cachedReads.p99Ms],
  ]);
  const cacheLayers = printCacheLayers('Cache layers during the HTTP query benchmark (both tables above)', layerStats);
  const output = {
    rows: total,
    tenants: TENANTS,
    usersPerTenant,
    load: { seconds: loadSeconds, rawCopySeconds: round(raw.ms / 1000, 2), shareOfRawCopy: round(raw.ms / load.ms, 3), djangoSeconds: DJANGO.loadSeconds, targetSeconds: TARGET.loadSeconds },
    cachedReads,
    cacheLayers,
    query: { ...sqlLevel, http, django: { medianMs: DJANGO.queryMedianMs, p99Ms: DJANGO.queryP99Ms }, target: TARGET },
  };
  console.log(`written to ${await writeResults('query', output)}`);
  return output;
}
