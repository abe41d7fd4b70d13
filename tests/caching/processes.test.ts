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
    child.stdout.on('data', (chunk: Buffer) => {
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

/** A process's session and query cache counters, read from its /metrics. */
async function counters(base: string) {
  const text = await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } })).text();
  const value = (event: string, layer: string) => {
    const match = new RegExp(`^strata_cache_${event}_total\\{layer="${layer}",backend="redis"\\} (\\d+)$`, 'm').exec(text);
    if (!match) throw new Error(`no strata_cache_${event}_total for layer ${layer} in /metrics:\n${text}`);
    return Number(match[1]);
  };
  return {
    session: { hits: value('hits', 'session'), misses: value('misses', 'session') },
    query: { hits: value('hits', 'query'), misses: value('misses', 'query') },
  };
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
    const key: string = created.body.data.apiKey.key;
    const userId: number = (await call(a, 'POST', '/v1/users', key, { email: `${slug}@example.com`, username: slug, profile: { bio: 'first' } })).body.data.id;
    expect((await call(b, 'GET', `/v1/users/${userId}/full`, key)).body.data.profile.bio).toBe('first');
    // B's second read is answered by B's caches: one session hit and one profile hit, no miss. So
    // B holds the old profile when A writes, and the read after the write must not be served it.
    const beforeProfile = await counters(b);
    expect((await call(b, 'GET', `/v1/users/${userId}/full`, key)).body.data.profile.bio).toBe('first');
    expect(await counters(b)).toEqual({
      session: { hits: beforeProfile.session.hits + 1, misses: beforeProfile.session.misses },
      query: { hits: beforeProfile.query.hits + 1, misses: beforeProfile.query.misses },
    });
    expect((await call(a, 'PUT', `/v1/users/${userId}/profile`, key, { bio: 'second' })).status).toBe(200);
    expect((await call(b, 'GET', `/v1/users/${userId}/full`, key)).body.data.profile.bio).toBe('second');

    const second = (await call(a, 'POST', '/v1/api-keys', key, { name: 'second' })).body.data;
    expect((await call(b, 'GET', '/v1/api-keys', second.key)).status).toBe(200);
    // B's second request finds the second key's session in B's cache: one session hit, no miss.
    const beforeKey = await counters(b);
    expect((await call(b, 'GET', '/v1/api-keys', second.key)).status).toBe(200);
    expect((await counters(b)).session).toEqual({ hits: beforeKey.session.hits + 1, misses: beforeKey.session.misses });
    expect((await call(a, 'DELETE', `/v1/api-keys/${second.id}`, key)).status).toBe(204);
    expect((await call(b, 'GET', '/v1/api-keys', second.key)).status).toBe(401);

    const stats = await fetch(`${b}/metrics`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(await stats.text()).toMatch(/strata_cache_hits_total\{layer="session",backend="redis"\} [1-9]/);
    // Exactly the hits and misses of B's six tenant requests above. Sessions: hits on the three
    // profile reads (A stored the first key's session when it created the user with it, and the
    // profile write leaves sessions alone) and on the second key's second request; misses on the
    // second key's first request and on its request after the revoke. Profiles: one hit (the second
    // read), two misses (the first read, and the one after the write).
    expect(await counters(b)).toEqual({ session: { hits: 4, misses: 2 }, query: { hits: 1, misses: 2 } });
  });
});
