import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caches } from '../../src/caching/index.js';
import { MemoryStore } from '../../src/caching/memory-store.js';
import { withTenant } from '../../src/db/tenant.js';
import { TenantRepository } from '../../src/repositories/tenant-repository.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { backends, keyPrefix, openCaches, SHARED_REDIS_URL, type Backend } from './support.js';

let database: TestDatabase;
// Connects on first use only: without Redis, the Redis cases are skipped and it never does.
const redis = new Redis(SHARED_REDIS_URL, { lazyConnect: true });
afterAll(() => redis.disconnect());

beforeAll(async () => {
  database = await migratedDatabase();
});

describe.each<Backend>(backends)('QueryCache.userProfile (%s)', (backend) => {
  let caches: Caches;
  const prefix = keyPrefix(`query-${backend}`);

  beforeAll(async () => {
    caches = await openCaches(backend, prefix, database);
  });

  const changeEmail = (tenantId: number, userId: number, email: string) => caches.invalidation.userWrite(tenantId, userId,
    () => withTenant(database, { tenantId }, (trx) => new UserRepository(trx).update(userId, { email })));

  async function keysOfTenant(tenantId: number): Promise<string[]> {
    // The tenant's own version key stays: bumped, it holds a token and no data of the tenant.
    const patterns = ['session', 'profile', 'analytics', 'response', 'version'].map((kind) => `${prefix}:${kind}:${tenantId}:`);
    if (backend === 'memory') return (caches.store as MemoryStore).keys().filter((key) => patterns.some((pattern) => key.startsWith(pattern)));
    return (await Promise.all(patterns.map((pattern) => redis.keys(`${pattern}*`)))).flat();
  }

  it('reads a profile from the database once, then answers the same profile with zero queries', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const first = await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id));
    const second = await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id));
    expect(first.queries).toBeGreaterThan(0);
    expect(second.queries).toBe(0);
    expect(second.result).toEqual(first.result);
    expect(first.result).toMatchObject({ id: user.id, email: user.email, profile: { bio: null }, settings: {} });
    // The same JSON shape from every backend, hit or miss: dates as ISO strings.
    expect(first.result.created_at).toBe(user.created_at.toISOString());
  });

  it('returns the new value on the very next read after an update commits', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    await changeEmail(tenant.id, user.id, 'new@example.com');
    const next = await database.queries.measure(() => caches.query.userProfile(tenant.id, user.id));
    expect(next.result.email).toBe('new@example.com');
    expect(next.queries).toBeGreaterThan(0);
  });

  it('keeps every other profile cached when one of them changes', async () => {
    const tenant = await createTenant(database);
    const changed = await createUser(database, tenant.id);
    const untouched = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, changed.id);
    await caches.query.userProfile(tenant.id, untouched.id);
    await changeEmail(tenant.id, changed.id, `changed-${changed.id}@example.com`);
    expect((await database.queries.measure(() => caches.query.userProfile(tenant.id, untouched.id))).queries).toBe(0);
    expect((await database.queries.measure(() => caches.query.userProfile(tenant.id, changed.id))).queries).toBeGreaterThan(0);
  });

  it('never serves one tenant\'s cached profile to another tenant', async () => {
    const owner = await createTenant(database, 'Owner');
    const other = await createTenant(database, 'Other');
    const user = await createUser(database, owner.id);
    await caches.query.userProfile(owner.id, user.id);
    await expect(caches.query.userProfile(other.id, user.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('does not cache a user that does not exist', async () => {
    const tenant = await createTenant(database);
    const setsBefore = caches.metrics.layer('query').sets;
    for (let attempt = 0; attempt < 2; attempt += 1) {
      const { queries } = await database.queries.measure(() => caches.query.userProfile(tenant.id, 999_999_999).catch(() => undefined));
      expect(queries).toBeGreaterThan(0);
    }
    expect(caches.metrics.layer('query').sets).toBe(setsBefore);
  });

  it('hands out frozen values, so no caller can change the cached copy', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    const cached = await caches.query.userProfile(tenant.id, user.id);
    expect(() => {
      (cached.profile as { bio: string | null }).bio = 'tampered';
    }).toThrow(TypeError);
    expect((await caches.query.userProfile(tenant.id, user.id)).profile.bio).toBeNull();
  });

  it('drops every key of a deleted tenant, and a read afterwards finds nothing', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await caches.query.userProfile(tenant.id, user.id);
    expect(await keysOfTenant(tenant.id)).not.toEqual([]);
    await caches.invalidation.tenantDelete(tenant.id, () => new TenantRepository(database.admin).delete(tenant.id));
    expect(await keysOfTenant(tenant.id)).toEqual([]);
    await expect(caches.query.userProfile(tenant.id, user.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe.each<Backend>(backends)('QueryCache.analyticsSummary (%s)', (backend) => {
  let caches: Caches;

  beforeAll(async () => {
    caches = await openCaches(backend, keyPrefix(`analytics-${backend}`), database);
  });

  function counted() {
    const calls = { count: 0 };
    return { calls, load: async () => ({ total: ++calls.count, at: new Date(0) }) };
  }

  it('loads a summary once, then serves it until an ETL run commits', async () => {
    const tenant = await createTenant(database);
    const { calls, load } = counted();
    const first = await caches.query.analyticsSummary(tenant.id, 'weekly', { from: '2024-01-01' }, load);
    const second = await caches.query.analyticsSummary(tenant.id, 'weekly', { from: '2024-01-01' }, load);
    expect(second).toEqual(first);
    expect(first.at).toBe('1970-01-01T00:00:00.000Z');
    expect(calls.count).toBe(1);
    await database.admin.insertInto('etl_run').values({ pipeline: 'test' }).execute();
    await caches.query.analyticsSummary(tenant.id, 'weekly', { from: '2024-01-01' }, load);
    expect(calls.count).toBe(2);
  });

  it('loads again after an analytics write through the invalidation, and keeps summaries per tenant and per parameters', async () => {
    const tenant = await createTenant(database);
    const other = await createTenant(database);
    const { calls, load } = counted();
    await caches.query.analyticsSummary(tenant.id, 'weekly', { from: '2024-01-01' }, load);
    await caches.query.analyticsSummary(tenant.id, 'weekly', { from: '2024-02-01' }, load);
    await caches.query.analyticsSummary(other.id, 'weekly', { from: '2024-01-01' }, load);
    expect(calls.count).toBe(3);
    await caches.invalidation.analyticsWrite([tenant.id], async () => undefined);
    await caches.query.analyticsSummary(tenant.id, 'weekly', { from: '2024-01-01' }, load);
    await caches.query.analyticsSummary(other.id, 'weekly', { from: '2024-01-01' }, load);
    expect(calls.count).toBe(4);
  });
});
