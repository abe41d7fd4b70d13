import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { buildApp } from '../src/api/app.js';
import { createCaches } from '../src/caching/index.js';
import type { LayerStats } from '../src/caching/metrics.js';
import { loadConfig } from '../src/config.js';
import { openDatabase, withDatabaseName, type Database } from '../src/db/database.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrator.js';
import { withTenant } from '../src/db/tenant.js';
import { issueTenantKey } from '../src/services/api-keys.js';

export interface BenchServer {
  /** A connection URL of the server (any database). */
  readonly url: string;
  readonly embedded: boolean;
  /** A freshly migrated database of its own; dropped by stop(). */
  freshDatabase(label: string): Promise<Database>;
  stop(): Promise<void>;
}

async function onServer(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * DATABASE_URL's server or an embedded one, with the schema migrated once into a template that each
 * suite clones: every suite starts from the same empty, migrated database, as the tests do.
 */
export async function startBenchServer(): Promise<BenchServer> {
  let url = process.env.DATABASE_URL;
  let stopEmbedded: (() => Promise<void>) | undefined;
  if (!url) {
    const dataDir = await mkdtemp(join(tmpdir(), 'strata-bench-'));
    const server = await startEmbeddedPostgres({ dataDir });
    url = server.url;
    stopEmbedded = async () => {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    };
  }
  const serverUrl = url;
  const prefix = `strata_bench_${process.pid}`;
  const template = `${prefix}_template`;
  await onServer(serverUrl, `drop database if exists ${template}`);
  await onServer(serverUrl, `create database ${template}`);
  const templateDatabase = openDatabase(withDatabaseName(serverUrl, template), { maxConnections: 1 });
  await migrate(templateDatabase);
  await templateDatabase.close();
  const opened: { name: string; database: Database }[] = [];
  return {
    url: serverUrl,
    embedded: stopEmbedded !== undefined,
    async freshDatabase(label) {
      const name = `${prefix}_${label.replace(/[^a-z0-9]+/gi, '_').toLowerCase()}`;
      await onServer(serverUrl, `drop database if exists ${name} with (force)`);
      await onServer(serverUrl, `create database ${name} template ${template}`);
      const database = openDatabase(withDatabaseName(serverUrl, name), { maxConnections: 20, applicationName: 'strata-bench' });
      opened.push({ name, database });
      return database;
    },
    async stop() {
      for (const { name, database } of opened) {
        await database.close();
        await onServer(serverUrl, `drop database if exists ${name} with (force)`);
      }
      await onServer(serverUrl, `drop database if exists ${template} with (force)`);
      await stopEmbedded?.();
    },
  };
}

/** Milliseconds since `start` (a process.hrtime.bigint() reading). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { ms: msSince(start), result };
}

function cpuTimes(): { steal: number; total: number } | null {
  try {
    // The first line sums every CPU: user nice system idle iowait irq softirq steal ...
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { steal: fields[7] ?? 0, total: fields.slice(0, 8).reduce((sum, value) => sum + value, 0) };
  } catch {
    return null;
  }
}

/**
 * Starts measuring the share of CPU time the hypervisor gave to other machines (Linux's steal time;
 * null where /proc/stat is missing). A latency measured while it is high measures the host more
 * than the code, so the benchmarks print it beside their medians.
 */
export function cpuStealMeter(): () => number | null {
  const start = cpuTimes();
  return () => {
    const end = cpuTimes();
    if (!start || !end || end.total === start.total) return null;
    return (100 * (end.steal - start.steal)) / (end.total - start.total);
  };
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const median = (values: readonly number[]) => percentile(values, 50);

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** Prints an aligned table: the first row is the header. */
export function printTable(title: string, rows: readonly (readonly (string | number)[])[]): void {
  const text = rows.map((row) => row.map((cell) => (typeof cell === 'number' ? cell.toLocaleString('en-US', { maximumFractionDigits: 2 }) : cell)));
  const widths = text[0]!.map((_, column) => Math.max(...text.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]) => `| ${row.map((cell, column) => cell.padEnd(widths[column]!)).join(' | ')} |`;
  console.log(`\n${title}\n${line(text[0]!)}\n|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`);
  for (const row of text.slice(1)) console.log(line(row));
}

export async function writeResults(suite: string, data: unknown): Promise<string> {
  const directory = new URL('./results/', import.meta.url);
  await mkdir(directory, { recursive: true });
  const path = new URL(`${suite}.json`, directory);
  await writeFile(path, `${JSON.stringify(data, null, 2)}\n`);
  return path.pathname;
}

export interface BenchTenants {
  tenantIds: number[];
  /** userIds[t] are the users of tenantIds[t]. */
  userIds: number[][];
}

/** Tenants and users made in bulk as the owner: set-up, not what is measured. */
export async function createTenantsAndUsers(database: Database, tenants: number, usersPerTenant: number, label = 'bench'): Promise<BenchTenants> {
  const { rows } = await sql<{ id: number }>`
    insert into tenant (name, slug)
    select ${label} || ' ' || g, ${label} || '-' || g || '-' || ${process.pid} from generate_series(1, ${tenants}) g
    returning id`.execute(database.admin);
  const tenantIds = rows.map((row) => row.id).sort((x, y) => x - y);
  await sql`
    insert into app_user (tenant_id, email, username)
    select t, 'user' || g || '@t' || t || '.example', 'user' || g
    from unnest(${tenantIds}::bigint[]) t, generate_series(1, ${usersPerTenant}) g`.execute(database.admin);
  const users = await sql<{ tenant_id: number; id: number }>`
    select tenant_id, id from app_user where tenant_id = any(${tenantIds}) order by tenant_id, id`.execute(database.admin);
  const byTenant = new Map<number, number[]>(tenantIds.map((id) => [id, []]));
  for (const user of users.rows) byTenant.get(user.tenant_id)!.push(user.id);
  return { tenantIds, userIds: tenantIds.map((id) => byTenant.get(id)!) };
}

export const ACTIVITY_TYPES = ['login', 'logout', 'view', 'search', 'purchase', 'share', 'comment', 'invite', 'export', 'upload'];

/** Activities as a client sends them: the seed's shape (type, small metadata), spread over the last 60 days. */
export function activityRows(count: number, userIds: readonly number[], offset = 0) {
  const now = Date.now();
  return Array.from({ length: count }, (_, index) => {
    const n = offset + index;
    return {
      user_id: userIds[n % userIds.length]!,
      activity_type: ACTIVITY_TYPES[n % ACTIVITY_TYPES.length]!,
      metadata: { ip_address: `10.0.${n % 256}.${(n >> 8) % 256}`, session_id: `s-${n % 9973}`, page: `/p/${n % 100}` },
      created_at: new Date(now - ((n * 7919) % (60 * 86_400_000))).toISOString(),
    };
  });
}

/**
 * Empties the activity table between runs, keeping its partitions and indexes. `checkpoint` also
 * writes out the dirty pages of the run before, so a large run does not pay for its predecessor's.
 */
export async function truncateActivities(database: Database, options: { checkpoint?: boolean } = {}): Promise<void> {
  await sql`truncate user_activity`.execute(database.admin);
  if (options.checkpoint) await sql`checkpoint`.execute(database.admin);
}

export interface ApiServer {
  /** e.g. http://127.0.0.1:41234 */
  readonly origin: string;
  /** The server's cache counters per layer, since it started. */
  cacheStats(): LayerStats[];
  close(): Promise<void>;
}

/** Prints each cache layer's lookups and hit rate (layers nothing looked up are left out); returns the rows. */
export function printCacheLayers(title: string, stats: readonly LayerStats[]): LayerStats[] {
  const used = stats.filter((layer) => layer.hits + layer.misses + layer.sets + layer.invalidations + layer.errors > 0);
  printTable(title, [
    ['layer', 'lookups', 'hits', 'misses', 'hit rate', 'sets', 'invalidations', 'errors'],
    ...used.map((layer) => [layer.layer, layer.hits + layer.misses, layer.hits, layer.misses,
      layer.hitRate === null ? '-' : `${(layer.hitRate * 100).toFixed(1)}%`, layer.sets, layer.invalidations, layer.errors]),
  ]);
  return used;
}

/**
 * The API as `strata serve` runs it (in-process session cache, no request log), on a free port of
 * 127.0.0.1; `env` overrides configuration defaults.
 */
export async function startApiServer(database: Database, env: Record<string, string> = {}): Promise<ApiServer> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const caches = createCaches({ config, database });
  const app = await buildApp({ database, config, caches, logger: false });
  const origin = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    origin,
    cacheStats: () => caches.metrics.snapshot(),
    async close() {
      await app.close();
      await caches.close();
    },
  };
}

/** One API key per tenant, issued as `POST /v1/api-keys` would. */
export async function tenantKeys(database: Database, tenantIds: readonly number[]): Promise<string[]> {
  const keys: string[] = [];
  for (const tenantId of tenantIds) keys.push((await withTenant(database, { tenantId }, (trx) => issueTenantKey(trx, 'bench'))).key);
  return keys;
}
