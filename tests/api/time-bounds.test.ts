import { randomUUID } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { expectUnchanged } from './support/db-snapshot.js';
import { testApi, type TestApi } from './helpers.js';

let api: TestApi;
let tenant: { id: number; key: string };
let userId: number;

beforeAll(async () => {
  api = await testApi();
  tenant = await api.tenant('Clock');
  userId = (await api.call('POST', '/v1/users', tenant.key, { email: 'c@clock.io', username: 'c' })).json().data.id;
});

async function expectRefused(method: string, url: string, body: unknown, field: string) {
  const response = await expectUnchanged(api.database, () => api.call(method, url, tenant.key, body));
  expect(response.statusCode, url).toBe(400);
  const { error } = response.json();
  expect(error.code).toBe('VALIDATION_FAILED');
  expect(error.details.map((detail: { path: string }) => detail.path).join(' ')).toContain(field);
}

describe('times and days the database or the pipeline could not take', () => {
  it('refuses UTC offsets beyond ±15:59, which PostgreSQL rejects, in bodies and queries', async () => {
    await expectRefused('POST', '/v1/activities', { activities: [{ userId, type: 'login', createdAt: '2024-01-01T00:00:00+16:00' }] }, 'createdAt');
    await expectRefused('GET', `/v1/activities?since=${encodeURIComponent('2024-01-01T00:00:00+16:00')}`, undefined, 'since');
    await expectRefused('POST', '/v1/events', { events: [{ id: randomUUID(), distinctId: 'd', name: 'n', timestamp: '2024-01-01T00:00:00-23:59' }] }, 'timestamp');
  });

  it('refuses activity and event times the analytics pipeline would quarantine (before 2000, past tomorrow)', async () => {
    await expectRefused('POST', '/v1/activities', { activities: [{ userId, type: 'login', createdAt: '1999-12-31T23:59:59Z' }] }, 'createdAt');
    await expectRefused('POST', '/v1/events', { events: [{ id: randomUUID(), distinctId: 'd', name: 'n', timestamp: '1999-12-31T00:00:00Z' }] }, 'timestamp');
    const future = new Date(Date.now() + 3 * 86_400_000).toISOString();
    await expectRefused('POST', '/v1/events', { events: [{ id: randomUUID(), distinctId: 'd', name: 'n', timestamp: future }] }, 'timestamp');
  });

  it('refuses report and analytics days outside 2000–2199, whose week arithmetic would leave YYYY-MM-DD', async () => {
    await expectRefused('POST', '/v1/reports', { kind: 'weekly_activity', from: '0000-01-01', to: '0000-01-20' }, 'from');
    await expectRefused('GET', '/v1/analytics/retention?from=9999-12-27&weeks=52', undefined, 'from');
    await expectRefused('POST', '/v1/reports', { kind: 'retention_cohort', from: '9999-12-01', to: '9999-12-31' }, 'from');
  });

  it('still takes an old-but-valid time and a day inside the range', async () => {
    const stored = await api.call('POST', '/v1/activities', tenant.key, { activities: [{ userId, type: 'login', createdAt: '2000-01-01T00:00:00-15:59' }] });
    expect(stored.statusCode).toBe(201);
    expect((await api.call('GET', '/v1/analytics/retention?from=2199-12-01&weeks=4', tenant.key)).statusCode).toBe(200);
  });
});
