import { beforeAll, describe, expect, it } from 'vitest';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { testCli } from '../cli/cli-context.js';
import { adminKeyFor, cachedApi, keyPrefix, openCaches, redisReachable, SHARED_REDIS_URL, tenantWithUser } from './support.js';

let database: TestDatabase;
let adminKey: string;

beforeAll(async () => {
  database = await migratedDatabase();
  adminKey = await adminKeyFor(database);
});

describe('revoking a key as the admin', () => {
  it('refuses the key on its very next request although its session was cached', async () => {
    const caches = await openCaches('memory', keyPrefix('key-admin'), database);
    const { call } = await cachedApi(database, caches);
    const { tenantId, key } = await tenantWithUser(call, adminKey);
    const keyId = (await call('GET', '/v1/api-keys', key)).json().data[0].id;
    const before = caches.metrics.layer('session');
    expect((await call('GET', '/v1/api-keys', key)).statusCode).toBe(200);
    expect(caches.metrics.layer('session').hits).toBe(before.hits + 1);
    expect((await call('DELETE', `/v1/tenants/${tenantId}/api-keys/${keyId}`, adminKey)).statusCode).toBe(204);
    expect((await call('GET', '/v1/api-keys', key)).statusCode).toBe(401);
  });

  it.runIf(redisReachable)('with `strata keys revoke`, through Redis, on a running instance', async () => {
    const prefix = keyPrefix('key-admin-cli');
    const caches = await openCaches('redis', prefix, database);
    const { call } = await cachedApi(database, caches);
    const { tenantId, key } = await tenantWithUser(call, adminKey);
    const keyId = (await call('GET', '/v1/api-keys', key)).json().data[0].id;
    const before = caches.metrics.layer('session');
    expect((await call('GET', '/v1/api-keys', key)).statusCode).toBe(200);
    expect(caches.metrics.layer('session').hits).toBe(before.hits + 1);
    const cli = testCli(database, { REDIS_URL: SHARED_REDIS_URL, CACHE_KEY_PREFIX: prefix });
    await cli.run('keys', 'revoke', String(keyId), '--tenant', String(tenantId));
    expect((await call('GET', '/v1/api-keys', key)).statusCode).toBe(401);
  });
});
