import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { buildCheckedApp } from './support/conformance.js';
import { createCaches } from '../../src/caching/index.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Database } from '../../src/db/database.js';
import { redisReachable, SHARED_REDIS_URL } from '../caching/support.js';
import { migratedDatabase } from '../helpers/database.js';

const config = loadConfig({ LOG_LEVEL: 'silent' });
const apps: FastifyInstance[] = [];
const silentLogger = { warn: () => undefined, error: () => undefined, info: () => undefined };

async function appOn(database: Database, build: typeof buildApp = buildCheckedApp): Promise<FastifyInstance> {
  const app = await build({ database, config });
  apps.push(app);
  return app;
}

let app: FastifyInstance;

beforeAll(async () => {
  app = await appOn(await migratedDatabase());
});

afterAll(async () => {
  for (const built of apps) await built.close();
});

describe('GET /health', () => {
  it('answers 200 without a key, saying the database is up', async () => {
    const response = await app.inject({ method: 'GET', url: '/health' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ok', checks: { database: 'up' } });
  });

  it('stays 200 while the database is down, and says it is', async () => {
    const database = openDatabase('postgres://strata@127.0.0.1:1/strata', { maxConnections: 1 });
    try {
      const response = await (await appOn(database)).inject({ method: 'GET', url: '/health' });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({ status: 'degraded', checks: { database: 'down' } });
    } finally {
      await database.close();
    }
  });

  it.skipIf(!redisReachable)('reports Redis when it is configured: up, or down when it cannot be reached', async () => {
    const database = await migratedDatabase();
    const cacheConfig = { ...loadConfig({ REDIS_URL: SHARED_REDIS_URL }), REDIS_TIMEOUT_MS: 100 };
    const reachable = createCaches({ config: cacheConfig, database, logger: silentLogger });
    const unreachable = createCaches({ config: { ...cacheConfig, REDIS_URL: 'redis://127.0.0.1:1' }, database, logger: silentLogger });
    try {
      await reachable.ready(2000);
      const builtUp = await buildCheckedApp({ database, config, caches: reachable });
      apps.push(builtUp);
      const up = await builtUp.inject({ method: 'GET', url: '/health' });
      expect(up.json()).toEqual({ status: 'ok', checks: { database: 'up', redis: 'up' } });
      const builtDown = await buildCheckedApp({ database, config, caches: unreachable });
      apps.push(builtDown);
      const health = await builtDown.inject({ method: 'GET', url: '/health' });
      expect({ status: health.statusCode, body: health.json() }).toEqual({ status: 200, body: { status: 'degraded', checks: { database: 'up', redis: 'down' } } });
      // Requests are served from the database meanwhile: the instance stays ready.
      const ready = await builtDown.inject({ method: 'GET', url: '/ready' });
      expect({ status: ready.statusCode, body: ready.json() }).toEqual({ status: 200, body: { status: 'ready', checks: { database: 'up', redis: 'down' } } });
    } finally {
      await reachable.close();
      await unreachable.close();
    }
  });
});

describe('GET /ready', () => {
  it('answers 200 when the database answers', async () => {
    const response = await app.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'ready', checks: { database: 'up' } });
  });

  it('answers 503 DATABASE_UNAVAILABLE once the database is closed', async () => {
    const database = openDatabase((await migratedDatabase()).url, { maxConnections: 1 });
    const closing = await appOn(database);
    expect((await closing.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);
    await database.close();
    const response = await closing.inject({ method: 'GET', url: '/ready' });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.json()).toEqual({
      status: 'unavailable',
      checks: { database: 'down' },
      error: { code: 'DATABASE_UNAVAILABLE', message: 'The database is not reachable.', details: [{ path: 'database', message: 'not reachable' }] },
    });
    expect((await closing.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('answers 503 DATABASE_UNAVAILABLE when the server cannot be reached', async () => {
    const database = openDatabase('postgres://strata@127.0.0.1:1/strata', { maxConnections: 1 });
    try {
      const response = await (await appOn(database)).inject({ method: 'GET', url: '/ready' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({ error: { code: 'DATABASE_UNAVAILABLE' } });
    } finally {
      await database.close();
    }
  });
});

describe('an unknown route', () => {
  it.each(['GET', 'POST', 'DELETE'] as const)('answers %s with 404 NOT_FOUND in the error shape', async (method) => {
    const response = await app.inject({ method, url: '/no/such/route?x=1' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({
      error: { code: 'NOT_FOUND', message: `no route ${method} /no/such/route`, details: [] },
    });
  });
});

describe('routes that say nothing about access', () => {
  it('are tenant-only wherever they are: a new route outside /v1 fails closed, while docs and dashboard files stay public', async () => {
    // The route is added past the document on purpose, so its answers are not checked against it.
    const built = await appOn(await migratedDatabase(), buildApp);
    built.get('/unmarked', async () => ({ secret: true }));
    const response = await built.inject({ method: 'GET', url: '/unmarked' });
    expect(response.statusCode).toBe(401);
    expect(response.json()).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
    for (const url of ['/docs/', '/dashboard/', '/dashboard/app.js', '/openapi.json', '/']) {
      expect((await built.inject({ method: 'GET', url })).statusCode, url).toBeLessThan(400);
    }
  });
});
