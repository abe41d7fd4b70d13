import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildCheckedApp } from './support/conformance.js';
import { loadConfig } from '../../src/config.js';
import { redisReachable, SHARED_REDIS_URL } from '../caching/support.js';
import { atFileEnd } from '../helpers/cleanup.js';
import { testApi, type TestApi } from './helpers.js';
import { twoTenants, type ApiTenant } from './support/two-tenants.js';

let api: TestApi, a: ApiTenant, b: ApiTenant;

beforeAll(async () => {
  ({ api, a, b } = await twoTenants(testApi({ RATE_LIMIT_PER_MINUTE: '3' }), 'Limited'));
});

describe('the per-key rate limit', () => {
  it('answers the request past the limit with 429 RATE_LIMITED, Retry-After and RateLimit headers', async () => {
    const answers = [];
    for (let request = 0; request < 4; request += 1) answers.push(await api.call('GET', '/v1/users', a.key));
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200, 429]);
    expect(answers.map((answer) => answer.headers['ratelimit-remaining'])).toEqual(['2', '1', '0', '0']);
    const limited = answers[3]!;
    expect(limited.json()).toMatchObject({ error: { code: 'RATE_LIMITED', details: [{ limit: 3 }] } });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.headers['ratelimit-limit']).toBe('3');
    expect(limited.headers['ratelimit-policy']).toBe('3;w=60');
  });

  it('counts per API key, not per address: another key from the same address is still served', async () => {
    expect((await api.call('GET', '/v1/users', a.key)).statusCode).toBe(429);
    expect((await api.call('GET', '/v1/users', b.key)).statusCode).toBe(200);
  });

  it('limits ingest before admitting its body, and leaves /health and unknown keys (401) alone', async () => {
    const response = await api.call('POST', '/v1/activities', a.key, { activities: [{ userId: 1, type: 'view' }] });
    expect(response.statusCode).toBe(429);
    for (let request = 0; request < 5; request += 1) expect((await api.call('GET', '/health', null)).statusCode).toBe(200);
    expect((await api.call('GET', '/v1/users', 'strata_1_nope')).statusCode).toBe(401);
  });

  it('is off at RATE_LIMIT_PER_MINUTE=0: no 429 and no RateLimit headers', async () => {
    const app = await buildCheckedApp({ database: api.database, config: loadConfig({ RATE_LIMIT_PER_MINUTE: '0' }) });
    atFileEnd(() => app.close());
    const answers = [];
    for (let request = 0; request < 5; request += 1) {
      answers.push(await app.inject({ method: 'GET', url: '/v1/users', headers: { authorization: `Bearer ${a.key}` } }));
    }
    expect(answers.map((answer) => answer.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(answers[0]!.headers['ratelimit-limit']).toBeUndefined();
  });

  it.skipIf(!redisReachable)('shares one count between instances through Redis', async () => {
    const env = { RATE_LIMIT_PER_MINUTE: '3', REDIS_URL: SHARED_REDIS_URL, CACHE_KEY_PREFIX: `rl-${randomBytes(4).toString('hex')}` };
    const [one, two] = await Promise.all([1, 2].map(() => buildCheckedApp({ database: api.database, config: loadConfig(env) })));
    atFileEnd(async () => {
      await one!.close();
      await two!.close();
    });
    const get = (app: typeof one) => app!.inject({ method: 'GET', url: '/v1/users', headers: { authorization: `Bearer ${b.key}` } })
      .then((answer) => answer.statusCode);
    // Until its Redis connection is up an instance lets requests through uncounted (no offline
    // queue): wait until each counts one of the admin key's requests.
    for (const app of [one!, two!]) {
      for (let attempt = 0; ; attempt += 1) {
        const answer = await app.inject({ method: 'GET', url: '/v1/tenants', headers: { authorization: `Bearer ${api.adminKey}` } });
        if (answer.headers['ratelimit-remaining'] !== '3') break;
        if (attempt > 500) throw new Error('the rate limit never reached Redis');
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    expect([await get(one), await get(two), await get(one), await get(two)]).toEqual([200, 200, 200, 429]);
  });
});
