import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import { DatabaseVersions, type DatabaseVersionsOptions } from '../../src/caching/database-versions.js';
import { onCitusCluster } from '../../src/db/distribution.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { freePort } from './support.js';

// DatabaseVersions' defaults and how often it says it serves from the database.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

afterEach(() => {
  vi.useRealTimers();
});

function open(options: Partial<DatabaseVersionsOptions> = {}) {
  const warnings: Array<{ reason: string; message: string }> = [];
  const resets = { count: 0 };
  const versions = new DatabaseVersions({
    url: database.url,
    pool: database.pool,
    cluster: () => onCitusCluster(database),
    logger: { warn: (details, message) => warnings.push({ reason: (details as { reason: string }).reason, message }) },
    warnIntervalMs: 0,
    maxScopes: 100,
    onReset: () => {
      resets.count += 1;
    },
    ...options,
  });
  onTestFinished(() => versions.close());
  return { versions, warnings, resets };
}

describe('DatabaseVersions', () => {
  it('becomes current with its default heartbeat and lease', async () => {
    const { versions } = open();
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
