import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { DatabaseVersions, type DatabaseVersionsOptions } from '../../src/caching/database-versions.js';
import { onCitusCluster } from '../../src/db/distribution.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { faultyLink } from './proxy.js';
import { eventually, freePort } from './support.js';

// DatabaseVersions on its own, against the real feed: what it answers before it hears the database,
// once it does, and after it stops hearing it.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

afterEach(() => {
  vi.useRealTimers();
});

interface Opened {
  versions: DatabaseVersions;
  warnings: Array<{ reason: string; message: string }>;
  resets: { count: number };
}

function open(options: Partial<DatabaseVersionsOptions> = {}): Opened {
  const warnings: Opened['warnings'] = [];
  const resets = { count: 0 };
  const versions = new DatabaseVersions({
    url: database.url,
    pool: database.pool,
    cluster: () => onCitusCluster(database),
    logger: { warn: (details, message) => warnings.push({ reason: (details as { reason: string }).reason, message }) },
    warnIntervalMs: 0,
    maxScopes: 100,
    heartbeatMs: 20,
    leaseMs: 1000,
    onReset: () => {
      resets.count += 1;
    },
    ...options,
  });
  onTestFinished(() => versions.close());
  return { versions, warnings, resets };
}

async function committed(scope: string): Promise<number> {
  const { rows } = await sql<{ version: string }>`select version from cache_version where scope = ${scope}`.execute(database.admin);
  return Number(rows[0]?.version ?? 0);
}

const setBio = (tenantId: number, userId: number, bio: string) =>
  withTenant(database, { tenantId }, (trx) => new UserRepository(trx).putProfile(userId, { bio }));

describe('DatabaseVersions', () => {
  it('answers nothing, and asks the database nothing, before its feed is current', async () => {
    const { versions, warnings, resets } = open({ url: `postgres://root@127.0.0.1:${await freePort()}/none` });
    const asked = await database.queries.measure(() => versions.tag(['1', '1:user:1']));
    expect(asked).toMatchObject({ result: undefined, queries: 0 });
    expect(await versions.ready(100)).toBe(false);
    // Never trusted, so the feed's failures reset it, and are reported, while it retries.
    await eventually(() => resets.count > 0, 'a reset');
    expect(warnings[0]!.message).toBe('cache: not hearing invalidations; serving from the database until the listener is current');
    expect(warnings[0]!.reason).toMatch(/ECONNREFUSED|connect/);
  });

  it('is not current, and says why, while it cannot learn whether the database is a cluster', async () => {
    const url = `postgres://root@127.0.0.1:${await freePort()}/none`;
    const unreachable = new pg.Pool({ connectionString: url, max: 1 });
    onTestFinished(() => unreachable.end());
    const { versions, warnings, resets } = open({ cluster: () => onCitusCluster({ pool: unreachable, url }) });
    expect(await versions.ready(300)).toBe(false);
    expect(resets.count).toBeGreaterThan(0);
    expect(warnings[0]!.reason).toMatch(/ECONNREFUSED|connect/);
  });

  it('tags a tenant\'s scopes with their committed versions in order, reading each unknown scope once, 0 for one never bumped', async () => {
    // Committed before it starts, so that it has to read them; an id of two digits at least, as
    // the tenant is everything before the scope's first ':'.
    let tenant = await createTenant(database);
    while (tenant.id < 10) tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await setBio(tenant.id, user.id, 'bumped');
    const { versions } = open();
    expect(await versions.ready(5000)).toBe(true);
    const userScope = `${tenant.id}:user:${user.id}`;
    const [tenantVersion, userVersion] = [await committed(String(tenant.id)), await committed(userScope)];
    expect(userVersion).toBeGreaterThan(0);
    const first = await database.queries.measure(() => versions.tag([String(tenant.id), userScope, `${tenant.id}:sessions:never`]));
    expect(first).toMatchObject({ result: `p${tenantVersion}.${userVersion}.0`, queries: 1 });
    const again = await database.queries.measure(() => versions.tag([userScope, String(tenant.id)]));
    expect(again).toMatchObject({ result: `p${userVersion}.${tenantVersion}`, queries: 0 });
  });

  it('learns a commit from its feed, with no query, and never goes back to an older version', async () => {
    const { versions } = open();
    expect(await versions.ready(5000)).toBe(true);
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const userScope = `${tenant.id}:user:${user.id}`;
    const before = await versions.tag([userScope]);
    await setBio(tenant.id, user.id, 'heard');
    const heard = `p${await committed(userScope)}`;
    expect(heard).not.toBe(before);
    await eventually(async () => (await database.queries.measure(() => versions.tag([userScope]))).result === heard, 'the commit to be heard');
    expect((await database.queries.measure(() => versions.tag([userScope]))).queries).toBe(0);
  });

  it('answers nothing when it cannot hold every scope of the tag at once', async () => {
    const { versions } = open({ maxScopes: 1 });
    expect(await versions.ready(5000)).toBe(true);
    const tenant = await createTenant(database);
    expect(await versions.tag([String(tenant.id), `${tenant.id}:sessions`])).toBeUndefined();
    expect(await versions.tag([String(tenant.id)])).toBe(`p${await committed(String(tenant.id))}`);
  });

  it('stops trusting once its feed stalls past the lease, forgetting what it learned, though the connection stays open', async () => {
    const link = await faultyLink(database.url);
    const { versions, resets, warnings } = open({ url: link.url, leaseMs: 300 });
    expect(await versions.ready(5000)).toBe(true);
    const tenant = await createTenant(database);
    await versions.tag([String(tenant.id)]);
    link.stall();
    await eventually(() => !versions.trusted(), 'the lease to lapse');
    expect(resets.count).toBe(1);
    expect(warnings.map((warning) => warning.reason)).toEqual(['the invalidation listener is behind']);
    link.heal();
    expect(await versions.ready(5000)).toBe(true);
    expect((await database.queries.measure(() => versions.tag([String(tenant.id)]))).queries).toBe(1);
  });

  it('refuses scopes of two tenants in one tag, naming them', async () => {
    const { versions } = open();
    expect(await versions.ready(5000)).toBe(true);
    await expect(versions.tag(['7:user:1', '8:user:1'])).rejects.toThrow('cache scopes of more than one tenant: 7:user:1, 8:user:1');
  });

  it('answers nothing, with a warning, when the versions cannot be read; and warns at most once per interval', async () => {
    const unreachable = new pg.Pool({ connectionString: `postgres://root@127.0.0.1:${await freePort()}/none`, max: 1 });
    onTestFinished(() => unreachable.end());
    const { versions, warnings } = open({ pool: unreachable, warnIntervalMs: 60_000 });
    expect(await versions.ready(5000)).toBe(true);
    expect(await versions.tag(['9:user:1'])).toBeUndefined();
    expect(await versions.tag(['9:user:2'])).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.reason).toMatch(/ECONNREFUSED|connect/);
    expect(warnings[0]!.message).toMatch(/^cache: not hearing invalidations/);
  });

  it('stops trusting, and forgets what it learned, when its feed is cut; and is current again once it reconnects', async () => {
    const link = await faultyLink(database.url);
    const { versions, resets, warnings } = open({ url: link.url, leaseMs: 300 });
    expect(await versions.ready(5000)).toBe(true);
    const tenant = await createTenant(database);
    await versions.tag([String(tenant.id)]);
    link.cut();
    await eventually(() => !versions.trusted(), 'the lease to lapse');
    expect(resets.count).toBeGreaterThan(0);
    expect(warnings.length).toBeGreaterThan(0);
    expect((await database.queries.measure(() => versions.tag([String(tenant.id)]))).result).toBeUndefined();
    link.heal();
    expect(await versions.ready(5000)).toBe(true);
    // What was learned before the cut is read again, not trusted from memory.
    const reread = await database.queries.measure(() => versions.tag([String(tenant.id)]));
    expect(reread).toMatchObject({ result: `p${await committed(String(tenant.id))}`, queries: 1 });
  });

  it('outlasts one lease, and once closed is neither ready nor trusted', async () => {
    const { versions } = open({ leaseMs: 200 });
    expect(await versions.ready(5000)).toBe(true);
    const started = performance.now();
    await versions.outlast();
    expect(performance.now() - started).toBeGreaterThanOrEqual(200);
    await versions.close();
    expect(versions.trusted()).toBe(false);
    const asked = performance.now();
    expect(await versions.ready(5000)).toBe(false);
    expect(performance.now() - asked).toBeLessThan(1000);
    expect(await versions.tag(['1'])).toBeUndefined();
  });
});

describe('DatabaseVersions, its defaults and its warnings', () => {
  it('becomes current with its default heartbeat and lease', async () => {
    const { versions } = open({ heartbeatMs: undefined, leaseMs: undefined });
    expect(await versions.ready(5000)).toBe(true);
    expect(versions.trusted()).toBe(true);
  });

  it('warns once per interval while the versions cannot be read, again at exactly the interval', async () => {
    const unreachable = new pg.Pool({ connectionString: `postgres://root@127.0.0.1:${await freePort()}/none`, max: 1 });
    onTestFinished(() => unreachable.end());
    const { versions, warnings } = open({ pool: unreachable, warnIntervalMs: 10_000, heartbeatMs: 20 });
    expect(await versions.ready(5000)).toBe(true);
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = new Date('2026-01-01T00:00:00Z').getTime();
    vi.setSystemTime(start);
    expect(await versions.tag(['9:user:1'])).toBeUndefined();
    expect(warnings).toHaveLength(1);
    vi.setSystemTime(start + 9_999);
    expect(await versions.tag(['9:user:1'])).toBeUndefined();
    expect(warnings).toHaveLength(1);
    vi.setSystemTime(start + 10_000);
    expect(await versions.tag(['9:user:1'])).toBeUndefined();
    expect(warnings).toHaveLength(2);
    for (const { reason, message } of warnings) {
      expect(reason).toMatch(/ECONNREFUSED|connect/);
      expect(message).toBe('cache: not hearing invalidations; serving from the database until the listener is current');
    }
  });

  it('once closed, forgets nothing more and warns of nothing however often it is asked', async () => {
    const { versions, warnings, resets } = open();
    expect(await versions.ready(5000)).toBe(true);
    await versions.close();
    const [warned, reset] = [warnings.length, resets.count];
    for (let asked = 0; asked < 3; asked += 1) expect(versions.trusted()).toBe(false);
    expect(await versions.tag(['1'])).toBeUndefined();
    expect([warnings.length, resets.count]).toEqual([warned, reset]);
  });
});
