import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateAdminKey } from '../../src/services/api-keys.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { keyPrefix, redisReachable, SHARED_REDIS_URL } from './support.js';

// Two real `strata serve` processes on one database and one Redis: nothing shared but those two,
// as in production behind a load balancer.
let database: TestDatabase;
const adminKey = generateAdminKey();
const servers: ChildProcess[] = [];
let a: string;
let b: string;

async function serve(prefix: string): Promise<string> {
  const child = spawn(process.execPath, ['bin/strata.js', 'serve'], {
    env: {
      ...process.env, DATABASE_URL: database.url, REDIS_URL: SHARED_REDIS_URL, CACHE_KEY_PREFIX: prefix,
      STRATA_ADMIN_KEY: adminKey, HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const listening = /listening on (\S+)/.exec(output);
      if (listening) resolve(listening[1]!);
    });
    child.once('exit', (code) => reject(new Error(`strata serve exited with ${code}: ${output}`)));
  });
}

async function call(base: string, method: string, path: string, key: string, body?: unknown) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: response.status === 204 ? null : await response.json() };
}

beforeAll(async () => {
  database = await migratedDatabase();
  const prefix = keyPrefix('processes');
  [a, b] = await Promise.all([serve(prefix), serve(prefix)]);
});

afterAll(async () => {
  await Promise.all(servers.map((child) => new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(undefined);
    child.once('exit', resolve);
    child.kill('SIGTERM');
  })));
});

describe.skipIf(!redisReachable)('two strata serve processes sharing one Redis', () => {
  it('read through B the profile updated through A, and refuse through B the key revoked through A', async () => {
    const slug = `processes-${randomBytes(3).toString('hex')}`;
    const created = await call(a, 'POST', '/v1/tenants', adminKey, { name: 'Processes', slug });
    expect(created.status).toBe(201);
    const key: string = created.body.apiKey.key;
    const userId: number = (await call(a, 'POST', '/v1/users', key, { email: `${slug}@example.com`, username: slug, profile: { bio: 'first' } })).body.data.id;
    expect((await call(b, 'GET', `/v1/users/${userId}/full`, key)).body.data.profile.bio).toBe('first');
    expect((await call(b, 'GET', `/v1/users/${userId}/full`, key)).body.data.profile.bio).toBe('first');
    expect((await call(a, 'PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).status).toBe(200);
    expect((await call(b, 'GET', `/v1/users/${userId}/full`, key)).body.data.profile.bio).toBe('second');

    const second = (await call(a, 'POST', '/v1/api-keys', key, { name: 'second' })).body.data;
    expect((await call(b, 'GET', '/v1/api-keys', second.key)).status).toBe(200);
    expect((await call(b, 'GET', '/v1/api-keys', second.key)).status).toBe(200);
    expect((await call(a, 'DELETE', `/v1/api-keys/${second.id}`, key)).status).toBe(204);
    expect((await call(b, 'GET', '/v1/api-keys', second.key)).status).toBe(401);

    const stats = await fetch(`${b}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(await stats.text()).toMatch(/strata_cache_hits_total\{layer="session",backend="redis"\} [1-9]/);
  });
});
