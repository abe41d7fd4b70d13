import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, onTestFinished } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { createCaches, type Caches, type CacheOptions } from '../../src/caching/index.js';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/db/database.js';
import { ensureAdminKey, generateAdminKey } from '../../src/services/api-keys.js';
import { atFileEnd } from '../helpers/cleanup.js';

let inTest = false;
beforeEach(() => {
  inTest = true;
});
afterEach(() => {
  inTest = false;
});

/** Cleans up after the test that opened the resource, or after the file when opened in a hook. */
function cleanup(fn: () => Promise<void> | void): void {
  if (inTest) onTestFinished(fn);
  else atFileEnd(fn);
}

export const SHARED_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port || 6379) });
    socket.setTimeout(300);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * A newcomer's machine has no Redis: the Redis cases then say they are skipped, and the in-process
 * cases still run. With REDIS_URL set (as in CI) they always run, so a broken Redis fails loudly.
 */
export const redisReachable = process.env.REDIS_URL !== undefined || await answers(SHARED_REDIS_URL);
/** Degrade tests start and stop Redis servers of their own. */
export const redisServerInstalled = spawnSync('redis-server', ['--version']).status === 0;
if (!redisReachable) console.warn(`Redis cache tests skipped: nothing answers at ${SHARED_REDIS_URL} and REDIS_URL is unset`);
if (!redisServerInstalled) console.warn('Redis degrade tests skipped: redis-server is not installed');

export type Backend = 'memory' | 'redis';
/** The backends this machine can test. */
export const backends: Backend[] = redisReachable ? ['memory', 'redis'] : ['memory'];

/** A key namespace of this test file's own, so files running in parallel on one Redis never meet. */
export function keyPrefix(name: string): string {
  return `test-${name}-${randomBytes(4).toString('hex')}`;
}

export function cacheConfig(backend: Backend, prefix: string, env: Record<string, string> = {}) {
  return loadConfig({
    CACHE_KEY_PREFIX: prefix,
    ...(backend === 'redis' ? { REDIS_URL: SHARED_REDIS_URL } : {}),
    ...env,
  });
}

export interface Warnings {
  messages: string[];
  warn(details: object, message: string): void;
}

export function warnings(): Warnings {
  const messages: string[] = [];
  return { messages, warn: (_details, message) => messages.push(message) };
}

/** Caches closed after the file; Redis ones connected before the first test. */
export async function openCaches(backend: Backend, prefix: string, database: Database, options: Partial<CacheOptions> = {}): Promise<Caches> {
  const caches = createCaches({ config: cacheConfig(backend, prefix), database, logger: warnings(), ...options });
  cleanup(() => caches.close());
  if (!(await caches.ready(5000))) throw new Error(`the ${backend} cache did not become ready`);
  return caches;
}

export type Call = (method: string, url: string, key: string | null, body?: unknown, headers?: Record<string, string>) => Promise<LightMyRequestResponse>;

export interface CachedApi {
  app: FastifyInstance;
  caches: Caches;
  call: Call;
}

export async function cachedApi(database: Database, caches: Caches, prepare?: (app: FastifyInstance) => void): Promise<CachedApi> {
  const app = await buildApp({ database, config: loadConfig({}), caches });
  prepare?.(app);
  cleanup(() => app.close());
  const call: Call = (method, url, key, body, headers = {}) => app.inject({
    method: method as 'GET',
    url,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers },
    ...(body === undefined ? {} : { payload: body as object }),
  });
  return { app, caches, call };
}

export async function adminKeyFor(database: Database): Promise<string> {
  const key = generateAdminKey();
  await ensureAdminKey(database.admin, key);
  return key;
}

export interface TenantUser {
  tenantId: number;
  key: string;
  userId: number;
}

/** A tenant created through the API, its first key, and one user with a profile. */
export async function tenantWithUser(call: Call, adminKey: string, name = 'Tenant'): Promise<TenantUser> {
  const slug = `${name.toLowerCase()}-${randomBytes(3).toString('hex')}`;
  const created = await call('POST', '/v1/tenants', adminKey, { name, slug });
  if (created.statusCode !== 201) throw new Error(`tenant creation failed: ${created.body}`);
  const { tenant, apiKey } = created.json().data;
  const user = await call('POST', '/v1/users', apiKey.key, {
    email: `${slug}@example.com`, username: slug, profile: { bio: 'first' },
  });
  if (user.statusCode !== 201) throw new Error(`user creation failed: ${user.body}`);
  return { tenantId: tenant.id, key: apiKey.key, userId: user.json().data.id };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisProcess {
  readonly url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** `SHUTDOWN SAVE`: writes its data to disk, which the next start loads. */
  shutdownSave(): Promise<void>;
}

/**
 * A Redis of this test's own on a free port, to stop and start at will (the shared one on 6379 is
 * never touched). `persistent` keeps its data across a restart, as a production Redis with an AOF would.
 */
export async function privateRedis(options: { persistent?: boolean } = {}): Promise<RedisProcess> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'strata-redis-'));
  let child: ChildProcess | undefined;
  const args = ['--port', String(port), '--save', '', '--daemonize', 'no', '--dir', dir,
    ...(options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'])];
  const redis: RedisProcess = {
    url: `redis://127.0.0.1:${port}`,
    async start() {
      const started = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'inherit'] });
      child = started;
      await new Promise<void>((resolve, reject) => {
        let output = '';
        started.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('Ready to accept connections')) resolve();
        });
        started.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
      });
    },
    async stop() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGTERM');
      await exited;
    },
    async shutdownSave() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const exited = new Promise((resolve) => running.once('exit', resolve));
      const client = new Redis(redis.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
      // SHUTDOWN answers by closing the connection: the error is its success.
      await client.call('SHUTDOWN', 'SAVE').catch(() => undefined);
      client.disconnect();
      await exited;
    },
  };
  cleanup(async () => {
    await redis.stop();
    await rm(dir, { recursive: true, force: true });
  });
  await redis.start();
  return redis;
}

/** Polls until check() holds: for things that happen on their own (a reconnect, a pub/sub message). */
export async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
