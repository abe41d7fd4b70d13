import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { buildCheckedApp } from './support/conformance.js';
import { toStrataError } from '../../src/api/errors.js';
import { OutageLog } from '../../src/api/outage-log.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/database.js';
import { serializeError } from '../../src/logging.js';
import { ensureAdminKey, generateAdminKey } from '../../src/services/api-keys.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { migratedDatabase } from '../helpers/database.js';
import { silentPort, tcpProxy } from '../helpers/tcp-proxy.js';

const config = loadConfig({});
const closing: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const close of closing) await close();
});

/** An app whose database connections all go through a proxy the test can stop, with its log lines. */
async function appBehindProxy() {
  const database = await migratedDatabase();
  const adminKey = generateAdminKey();
  await ensureAdminKey(database.admin, adminKey);
  const target = new URL(database.url);
  const proxy = await tcpProxy(target.hostname, Number(target.port || 5432));
  const proxied = new URL(database.url);
  proxied.host = `127.0.0.1:${proxy.port}`;
  const viaProxy = openDatabase(proxied.toString(), { maxConnections: 5 });
  const lines: Record<string, unknown>[] = [];
  const app = await buildCheckedApp({
    database: viaProxy, config, logger: { level: 'info', stream: { write: (line) => void lines.push(JSON.parse(line)) } },
  });
  closing.push(async () => {
    await app.close();
    await viaProxy.close();
  });
  return { app, adminKey, proxy, lines };
}

describe('a database outage', () => {
  it('answers 503 DATABASE_UNAVAILABLE with Retry-After on every route, logging one warning for many requests and no stack', async () => {
    const { app, adminKey, proxy, lines } = await appBehindProxy();
    const created = await app.inject({ method: 'POST', url: '/v1/tenants', headers: { authorization: `Bearer ${adminKey}` }, payload: { name: 'Outage', slug: 'outage' } });
    expect(created.statusCode).toBe(201);
    const tenantKey = created.json().data.apiKey.key as string;

    await proxy.stop();
    const requests: { method: 'GET' | 'POST'; url: string; key: string; payload?: object }[] = [
      ...Array.from({ length: 40 }, () => ({ method: 'GET' as const, url: '/v1/users', key: tenantKey })),
      ...Array.from({ length: 10 }, () => ({ method: 'POST' as const, url: '/v1/products', key: tenantKey, payload: { name: 'x', slug: 'x' } })),
      ...Array.from({ length: 10 }, () => ({ method: 'GET' as const, url: '/v1/tenants', key: adminKey })),
    ];
    for (const { method, url, key, payload } of requests) {
      const response = await app.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload ? { payload } : {}) });
      expect({ url, status: response.statusCode, retryAfter: response.headers['retry-after'] }).toEqual({ url, status: 503, retryAfter: '5' });
      expect(response.json()).toEqual({ error: { code: 'DATABASE_UNAVAILABLE', message: 'The database is not reachable.', details: [] } });
    }

    const warnings = lines.filter((line) => String(line.msg).startsWith('database unavailable'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, suppressed: 0 });
    expect(lines.filter((line) => (line.level as number) >= 50)).toEqual([]);
    expect(JSON.stringify(lines)).not.toMatch(/"stack"/);
  });

  it('says how many requests a warning stood for, once per interval', () => {
    let now = 0;
    const outages = new OutageLog({ intervalMs: 30_000, now: () => now });
    const warned: unknown[] = [];
    const log = { warn: (fields: unknown) => void warned.push(fields) } as never;
    for (let request = 0; request < 100; request += 1, now += 500) outages.report(log, Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    expect(warned).toEqual([
      { code: 'ECONNREFUSED', reason: 'connect ECONNREFUSED', suppressed: 0 },
      { code: 'ECONNREFUSED', reason: 'connect ECONNREFUSED', suppressed: 59 },
    ]);
  });
});

describe('what counts as the database being unavailable', () => {
  it('a session the server terminates (pg_terminate_backend, 57P01), as pg reports it', async () => {
    const database = await migratedDatabase();
    const victim = new pg.Client({ connectionString: database.url });
    await victim.connect();
    victim.on('error', () => undefined);
    const { rows: [backend] } = await victim.query<{ pid: number }>('select pg_backend_pid() as pid');
    const sleeping = victim.query('select pg_sleep(30)').then(() => undefined, (error: unknown) => error);
    // Typed: Citus adds a pg_terminate_backend(bigint, …) that makes an untyped argument ambiguous.
    await database.pool.query('select pg_terminate_backend($1::int)', [backend!.pid]);
    const error = await sleeping;
    expect(error).toMatchObject({ code: '57P01' });
    expect(toStrataError(error)).toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
    const afterwards = await victim.query('select 1').then(() => undefined, (later: unknown) => later);
    expect(toStrataError(afterwards)).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    await victim.end().catch(() => undefined);
  });

  it('a refused connection (ECONNREFUSED) and a pool that cannot connect in time', async () => {
    const refused = await new pg.Pool({ connectionString: 'postgres://strata@127.0.0.1:1/strata' }).query('select 1').catch((error: unknown) => error);
    expect(toStrataError(refused)).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });

    const silent = await silentPort();
    atFileEnd(() => silent.close());
    const pool = new pg.Pool({ connectionString: `postgres://strata@127.0.0.1:${silent.port}/strata`, connectionTimeoutMillis: 50 });
    const timedOut = await pool.query('select 1').catch((error: unknown) => error);
    expect(String((timedOut as Error).message)).toMatch(/timeout/i);
    expect(toStrataError(timedOut)).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
    await pool.end();
  });

  it.each(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08006', '53300'])('SQLSTATE %s', (code) => {
    expect(toStrataError(Object.assign(new Error('server said no'), { code }))).toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
  });

  it.each(['57014', '23505', '40001', '42P01'])('but not SQLSTATE %s, which a working database reports', (code) => {
    expect(toStrataError(Object.assign(new Error('server said no'), { code }))).not.toMatchObject({ code: 'DATABASE_UNAVAILABLE' });
  });
});

describe('a logged error', () => {
  it('keeps its type, message, code and stack, never the client or pool it carries', () => {
    const error = Object.assign(new Error('terminating connection due to administrator command'), {
      code: '57P01', severity: 'FATAL', client: { connectionParameters: { password: 'secret' }, connection: { stream: {} } },
    });
    const logged = serializeError(error);
    expect(Object.keys(logged).sort()).toEqual(['code', 'message', 'stack', 'type']);
    expect(logged).toMatchObject({ type: 'Error', code: '57P01', message: 'terminating connection due to administrator command' });
    expect(JSON.stringify(logged)).not.toContain('secret');
    expect(serializeError('plain text')).toEqual({ type: 'string', message: 'plain text', stack: '' });
  });
});
