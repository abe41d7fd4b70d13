import type { Page } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../../src/cli/seed.js';
import { testApi, type TestApi } from '../api/helpers.js';
import { catchUp } from '../etl/support.js';
import { axeViolations, chromiumAvailable, launch, openView, overflow, screenshot, signedInContext, VIEWPORTS, watch } from './browser.js';

let api: TestApi;
let browser: Browser;
let base: string;
let key: string;
let ids: { user: number; product: number; organization: number; project: number; report: number; tenant: number };

const today = () => new Date().toISOString().slice(0, 10);
const addDays = (day: string, days: number) => new Date(Date.parse(`${day}T00:00:00Z`) + days * 86_400_000).toISOString().slice(0, 10);
const number = (value: number) => new Intl.NumberFormat('en').format(value);

async function get(path: string, as = key) {
  const response = await api.call('GET', `/v1${path}`, as);
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

const texts = (page: Page, selector: string) => page.locator(selector).allTextContents();

/** Each view, the URL that opens it, and what on it must equal the API's answer. */
const tenantViews: { name: string; route: () => string; check: (page: Page) => Promise<void> }[] = [
  { name: 'overview', route: () => '/overview', check: async (page) => {
    const { data } = await get(`/analytics/active-users?from=${today()}&to=${today()}`);
    expect(await page.textContent('[data-testid="Active today (DAU)"]')).toBe(number(data[0].dau));
    expect(await page.textContent('[data-testid="Active this week (WAU)"]')).toBe(number(data[0].wau));
    expect(await page.textContent('[data-testid="Active in 30 days (MAU)"]')).toBe(number(data[0].mau));
    expect(await page.locator('.chart canvas').count()).toBe(1);
  } },
  { name: 'metrics', route: () => `/metrics?name=activities&granularity=week&from=${addDays(today(), -89)}&to=${today()}`, check: async (page) => {
    const { data } = await get(`/analytics/metrics?name=activities&granularity=week&from=${addDays(today(), -89)}&to=${today()}`);
    const totals = new Map<string, number>();
    for (const point of data as { dimension: string; value: number }[]) totals.set(point.dimension, (totals.get(point.dimension) ?? 0) + point.value);
    const rows = await page.locator('table tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(Object.fromEntries(rows.map((row) => [row[0], row[1]]))).toEqual(Object.fromEntries([...totals].map(([type, total]) => [type, number(total)])));
  } },
  { name: 'retention', route: () => `/retention?from=${addDays(today(), -7 * 11)}&weeks=12`, check: async (page) => {
    const { data } = await get(`/analytics/retention?from=${addDays(today(), -7 * 11)}&weeks=12`);
    expect((await texts(page, '.cohorts tbody tr td:nth-child(2)'))).toEqual(data.map((cohort: { size: number }) => number(cohort.size)));
    expect(await page.textContent('.summary')).toMatch(/Best week-1 retention/);
  } },
  { name: 'reports', route: () => '/reports', check: async (page) => {
    expect(await page.textContent('table')).toContain(`#${ids.report}`);
  } },
  { name: 'report', route: () => `/reports/${ids.report}`, check: async (page) => {
    const { data } = await get(`/reports/${ids.report}`);
    await page.click('.lineage summary');
    expect(await page.textContent('.run-ids')).toBe(data.etlRunIds.join(', '));
  } },
  { name: 'users', route: () => '/users', check: async (page) => {
    const { data } = await get('/users?limit=50');
    expect(await texts(page, 'tbody tr td:first-child')).toEqual(data.map((user: { username: string }) => user.username));
    expect(await page.locator('.pager button', { hasText: 'Next page' }).isEnabled()).toBe(true);
  } },
  { name: 'user', route: () => `/users/${ids.user}`, check: async (page) => {
    const { data } = await get(`/activities?userId=${ids.user}&limit=20`);
    expect(await page.locator('tbody tr').count()).toBe(data.length);
    expect(await page.textContent('main')).toContain('displayName');
  } },
  { name: 'organizations', route: () => '/organizations', check: async (page) => {
    expect(await page.textContent('tbody')).toContain('Acme Labs');
  } },
  { name: 'organization', route: () => `/organizations/${ids.organization}`, check: async (page) => {
    expect(await page.textContent('main')).toContain('Core team');
    expect(await page.textContent('main')).toContain(`#${ids.user}`);
  } },
  { name: 'projects', route: () => '/projects', check: async (page) => { expect(await page.textContent('tbody')).toContain('Launch'); } },
  { name: 'project', route: () => `/projects/${ids.project}`, check: async (page) => { expect(await page.textContent('main')).toContain('editor'); } },
  { name: 'products', route: () => '/products', check: async (page) => {
    const { data } = await get('/products?limit=50');
    expect(await texts(page, 'tbody tr td:first-child')).toEqual(data.map((product: { name: string }) => product.name));
  } },
  { name: 'product', route: () => `/products/${ids.product}`, check: async (page) => {
    const { data } = await get(`/products/${ids.product}/inventory`);
    expect(await page.textContent('[data-testid="stock"]')).toBe(number(data.quantity));
    // The rename made with the tenant's key shows as a readable diff, with the key's name as actor.
    expect(await page.textContent('.history')).toMatch(/Product 1.*Desk lamp/s);
    expect(await page.textContent('.history')).toContain('by default (key #');
  } },
  { name: 'activity', route: () => `/activity?type=purchase`, check: async (page) => {
    const { data } = await get('/activities?type=purchase&limit=50');
    expect(await texts(page, 'tbody tr td:nth-child(3)')).toEqual(data.map((row: { type: string }) => row.type));
  } },
  { name: 'history', route: () => `/history?entity=product&entityId=${ids.product}`, check: async (page) => {
    const { data } = await get(`/audit?entity=product&entityId=${ids.product}`);
    expect(await page.locator('.history-entry').count()).toBe(data.length);
  } },
  { name: 'operations', route: () => '/operations', check: async (page) => { expect(await page.textContent('main')).toContain('ready'); } },
];

const adminViews: typeof tenantViews = [
  { name: 'admin-tenants', route: () => '/tenants', check: async (page) => {
    const { data } = await get('/tenants?limit=50', api.adminKey);
    expect(await page.locator('tbody tr').count()).toBe(data.length);
  } },
  { name: 'admin-tenant-keys', route: () => `/tenants/${ids.tenant}`, check: async (page) => { expect(await page.textContent('tbody')).toContain('default'); } },
  { name: 'admin-operations', route: () => '/operations', check: async (page) => {
    expect(await texts(page, 'tbody tr td:first-child')).toEqual(['session', 'query', 'response', 'etag']);
  } },
];

describe.skipIf(!chromiumAvailable)('dashboard views on a seeded database', () => {
  beforeAll(async () => {
    api = await testApi();
    const seeded = await seedDemoData(api.database, { tenants: 1, users: 120, products: 6, activities: 6_000, events: 600 });
    key = seeded.tenants[0]!.apiKey;
    ids = { tenant: seeded.tenants[0]!.id } as typeof ids;
    const created = async (path: string, body: unknown, method = 'POST') => {
      const response = await api.call(method, `/v1${path}`, key, body);
      expect(response.statusCode, response.body).toBeLessThan(300);
      return response.json().data;
    };
    ids.user = (await get('/users?limit=1')).data[0].id;
    ids.product = (await get('/products?limit=1')).data[0].id;
    await created(`/products/${ids.product}`, { name: 'Desk lamp' }, 'PATCH');
    ids.organization = (await created('/organizations', { name: 'Acme Labs', slug: 'labs' })).id;
    const team = await created(`/organizations/${ids.organization}/teams`, { name: 'Core team', slug: 'core' });
    await created(`/teams/${team.id}/members/${ids.user}`, { role: 'admin' }, 'PUT');
    ids.project = (await created('/projects', { name: 'Launch', slug: 'launch', organizationId: ids.organization })).id;
    await created(`/projects/${ids.project}/members/${ids.user}`, { role: 'editor' }, 'PUT');
    await catchUp(api.database);
    ids.report = (await created('/reports', { kind: 'weekly_activity', from: addDays(today(), -27), to: today() })).id;
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  for (const [size, viewport] of Object.entries(VIEWPORTS)) {
    it(`opens every view at ${viewport.width}×${viewport.height}: the API's numbers, no error, no failed request, nothing wider than the screen, no serious axe violation`, async () => {
      for (const [views, signedKey] of [[tenantViews, () => key], [adminViews, () => api.adminKey]] as const) {
        const context = await signedInContext(browser, signedKey(), viewport);
        const page = await context.newPage();
        // A product's stock history is empty until an adjustment: the view asks and shows "no change" for a 404.
        const problems = watch(page, (url, status) => status === 404 && url.includes('/v1/audit'));
        for (const view of views) {
          await openView(page, base, view.route());
          await view.check(page);
          await screenshot(page, `${view.name}-${size}`);
          expect({ view: view.name, overflow: await overflow(page) }).toEqual({ view: view.name, overflow: [] });
          if (size === 'desktop' || view.name === 'overview') expect({ view: view.name, axe: await axeViolations(page) }).toEqual({ view: view.name, axe: [] });
          expect({ view: view.name, problems: problems.list }).toEqual({ view: view.name, problems: [] });
        }
        await context.close();
      }
    }, 180_000);
  }
});
