import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/program.js';
import type { CliContext } from '../../src/cli/context.js';
import { loadConfig } from '../../src/config.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { adminKeyFor, cachedApi, freePort, keyPrefix, openCaches, tenantWithUser, type CachedApi } from './support.js';

let database: TestDatabase;
let api: CachedApi;
let adminKey: string;

beforeAll(async () => {
  database = await migratedDatabase();
  api = await cachedApi(database, await openCaches('memory', keyPrefix('metrics'), database));
  adminKey = await adminKeyFor(database);
});

/** One sample of the Prometheus text exposition, by metric name and layer label. */
async function sample(name: string, layer: string): Promise<number | undefined> {
  const text = (await api.call('GET', '/metrics', adminKey)).body;
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name}{`) && candidate.includes(`layer="${layer}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function counters(layer: string) {
  const entries = await Promise.all(['hits', 'misses', 'sets', 'invalidations', 'errors'].map(async (event) =>
    [event, await sample(`strata_cache_${event}_total`, layer)] as const));
  return Object.fromEntries(entries) as Record<'hits' | 'misses' | 'sets' | 'invalidations' | 'errors', number>;
}

describe('GET /metrics', () => {
  it('is for the admin key only', async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    expect((await api.call('GET', '/metrics', null)).statusCode).toBe(401);
    expect((await api.call('GET', '/metrics', key)).statusCode).toBe(401);
    const response = await api.call('GET', '/metrics', adminKey);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    expect(response.body).toContain('strata_cache_errors_total{layer="session",backend="memory"} 0');
  });

  it('counts a miss and a set, then a hit, then an invalidation for the query layer', async () => {
    const { key, userId } = await tenantWithUser(api.call, adminKey);
    const before = await counters('query');
    await api.call('GET', `/v1/users/${userId}/full`, key);
    await api.call('GET', `/v1/users/${userId}/full`, key);
    await api.call('PATCH', `/v1/users/${userId}`, key, { username: 'renamed' });
    const after = await counters('query');
    expect(after).toEqual({ ...before, misses: before.misses + 1, sets: before.sets + 1, hits: before.hits + 1, invalidations: before.invalidations + 1 });
  });

  it('counts the session layer: a new key misses once, then hits; a revoke is an invalidation', async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    const extra = (await api.call('POST', '/v1/api-keys', key, { name: 'extra' })).json().data;
    const before = await counters('session');
    await api.call('GET', '/v1/api-keys', extra.key);
    await api.call('GET', '/v1/api-keys', extra.key);
    const used = await counters('session');
    expect(used.misses - before.misses).toBe(1);
    expect(used.sets - before.sets).toBe(1);
    // The key that made the POST was cached already: a hit on top of extra's second request.
    expect(used.hits - before.hits).toBeGreaterThanOrEqual(1);
    await api.call('DELETE', `/v1/api-keys/${extra.id}`, key);
    expect((await counters('session')).invalidations - used.invalidations).toBe(1);
  });

  it('counts a 304 as an ETag hit and a changed resource as an ETag miss', async () => {
    const { key, userId } = await tenantWithUser(api.call, adminKey);
    const before = await counters('etag');
    const etag = (await api.call('GET', `/v1/users/${userId}/full`, key)).headers.etag as string;
    await api.call('GET', `/v1/users/${userId}/full`, key, undefined, { 'if-none-match': etag });
    await api.call('GET', `/v1/users/${userId}/full`, key, undefined, { 'if-none-match': '"other"' });
    const after = await counters('etag');
    expect([after.hits - before.hits, after.misses - before.misses]).toEqual([1, 1]);
  });

  it('counts the response layer and reports each layer\'s hit ratio', async () => {
    const { key } = await tenantWithUser(api.call, adminKey);
    const before = await counters('response');
    await api.call('GET', '/v1/analytics/active-users?from=2024-03-01&to=2024-03-02', key);
    await api.call('GET', '/v1/analytics/active-users?from=2024-03-01&to=2024-03-02', key);
    const after = await counters('response');
    expect([after.misses - before.misses, after.sets - before.sets, after.hits - before.hits]).toEqual([1, 1, 1]);
    const ratio = await sample('strata_cache_hit_ratio', 'response');
    expect(ratio).toBeCloseTo(after.hits / (after.hits + after.misses));
  });

  it('answers in JSON when asked, which is what `strata cache stats` reads', async () => {
    const response = await api.call('GET', '/metrics', adminKey, undefined, { accept: 'application/json' });
    const names = response.json<Array<{ name: string }>>().map((metric) => metric.name);
    expect(names).toEqual(expect.arrayContaining(['strata_cache_hits_total', 'strata_cache_misses_total', 'strata_cache_sets_total',
      'strata_cache_invalidations_total', 'strata_cache_errors_total', 'strata_cache_hit_ratio']));
  });
});

describe('strata cache stats', () => {
  let address: string;

  beforeAll(async () => {
    address = await api.app.listen({ host: '127.0.0.1', port: 0 });
  });

  function cli(env: Record<string, string> = {}) {
    const lines: string[] = [];
    const context: CliContext = {
      config: loadConfig(env),
      openRuntime: () => Promise.reject(new Error('cache stats asks the running instance, not the database')),
      out: (line) => lines.push(line),
      err: (line) => lines.push(line),
    };
    return { lines, run: (...args: string[]) => buildProgram(context).parseAsync(['node', 'strata', 'cache', 'stats', ...args]) };
  }

  it('prints each layer\'s counters and hit rate as the running instance counts them', async () => {
    const { key, userId } = await tenantWithUser(api.call, adminKey);
    await api.call('GET', `/v1/users/${userId}/full`, key);
    await api.call('GET', `/v1/users/${userId}/full`, key);
    const query = api.caches.metrics.layer('query');
    const table = cli();
    await table.run('--url', address, '--key', adminKey);
    expect(table.lines[0]).toBe(`backend: memory (${address})`);
    expect(table.lines[1]).toMatch(/^layer\s+hits\s+misses\s+hit rate\s+sets\s+invalidations\s+errors$/);
    const row = table.lines.find((line) => line.startsWith('query'))!.split(/\s+/);
    expect(row).toEqual(['query', String(query.hits), String(query.misses), `${(query.hitRate! * 100).toFixed(1)}%`,
      String(query.sets), String(query.invalidations), '0']);
    const { hostname, port } = new URL(address);
    const json = cli({ STRATA_ADMIN_KEY: adminKey, HOST: hostname, PORT: port });
    await json.run('--json');
    expect(JSON.parse(json.lines[0]!).layers).toContainEqual(expect.objectContaining({ layer: 'query', hits: query.hits }));
  });

  it('says what is wrong when there is no key, a wrong key or no instance', async () => {
    await expect(cli().run('--url', 'http://127.0.0.1:1')).rejects.toThrow(/admin key/);
    await expect(cli().run('--url', address, '--key', 'strata_admin_' + 'A'.repeat(43))).rejects.toThrow(/answered 401/);
    await expect(cli().run('--url', `http://127.0.0.1:${await freePort()}`, '--key', adminKey)).rejects.toThrow(/cannot reach/);
  });
});
