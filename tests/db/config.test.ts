import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';

describe('loadConfig', () => {
  it('fills the defaults from an empty environment, and points at no external service', () => {
    const config = loadConfig({});
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'STRATA_ADMIN_KEY'] as const) {
      expect(config[name], name).toBeUndefined();
    }
    expect(config).toMatchObject({
      STRATA_DATA_DIR: './.strata',
      HOST: '127.0.0.1',
      PORT: 3000,
      LOG_LEVEL: 'info',
      CACHE_TTL_SECONDS: 300,
      ETL_CRON: '*/5 * * * *',
    });
  });

  it('reads and coerces the values it is given', () => {
    const config = loadConfig({
      DATABASE_URL: 'postgres://app@db.internal:5432/strata', PORT: '0', LOG_LEVEL: 'warn', CACHE_TTL_SECONDS: '60',
      STRATA_ADMIN_KEY: 'a-very-long-admin-key',
    });
    expect(config).toMatchObject({
      DATABASE_URL: 'postgres://app@db.internal:5432/strata', PORT: 0, LOG_LEVEL: 'warn', CACHE_TTL_SECONDS: 60,
      STRATA_ADMIN_KEY: 'a-very-long-admin-key',
    });
  });

  it('treats an empty variable as unset', () => {
    const config = loadConfig({ DATABASE_URL: '', PORT: '' });
    expect(config.DATABASE_URL).toBeUndefined();
    expect(config.PORT).toBe(3000);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['PORT', '-1'],
    ['DATABASE_URL', 'not a url'],
    ['LOG_LEVEL', 'loud'],
    ['CACHE_TTL_SECONDS', '0'],
    ['STRATA_ADMIN_KEY', 'short'],
  ])('refuses %s=%s and names the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^invalid configuration: ${name}: `));
  });

  it('names every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', LOG_LEVEL: 'loud' })).toThrow(/PORT: .*; LOG_LEVEL: /);
  });
});
