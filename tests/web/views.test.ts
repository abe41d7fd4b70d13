import type { Page } from 'playwright-core';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedDemoData } from '../../src/cli/demo-data.js';
import { testApi, type TestApi } from '../api/helpers.js';
import { catchUp, insertEvents } from '../etl/support.js';
import { axeViolations, chromiumAvailable, launch, openView, overflow, screenshot, signedInContext, VIEWPORTS, watch } from './browser.js';

let api: TestApi;
let browser: Browser;
let base: string;
let key: string;
let ids: { user: number; product: number; organization: number; project: number; report: number; tenant: number; failedRun: number };

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
  { name: 'operations', route: () => '/operations', check: async (page) => {
    expect(await page.textContent('main')).toContain('ready');
    const { pipeline } = await get('/etl-runs?limit=1');
    expect(await page.textContent('[data-testid="failures"]')).toBe(number(pipeline.failuresSinceLastSuccess));
    // The tenant's own cache counts: the query and response layers see no lookup between the page's read and this one.
    const stats = await get('/cache-stats');
    const rows = await page.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows.map((row) => row[0])).toEqual(stats.data.map((layer: { layer: string }) => layer.layer));
    for (const layer of stats.data.filter((one: { layer: string }) => one.layer === 'query' || one.layer === 'response')) {
      expect(rows.find((row) => row[0] === layer.layer)!.slice(2, 5)).toEqual([number(layer.hits), number(layer.misses), number(layer.sets)]);
    }
  } },
  { name: 'etl-runs', route: () => '/etl-runs', check: async (page) => {
    const { data } = await get('/etl-runs?limit=50');
    const rows = await page.locator('tbody tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows.map((row) => [row[0], row[1], row[5], row[6]])).toEqual(data.map((run: { id: number; status: string; rowsRead: number; rowsWritten: number }) =>
      [`#${run.id}`, run.status, number(run.rowsRead), run.rowsWritten === undefined ? '–' : number(run.rowsWritten)]));
    const failed = data.find((run: { id: number }) => run.id === ids.failedRun);
    expect(failed.quarantined.rows).toBe(1);
    expect(rows.find((row) => row[0] === `#${ids.failedRun}`)![7]).toBe(`1${number(1)} ${failed.quarantined.reasons[0].reason}`);
  } },
  { name: 'etl-run', route: () => `/etl-runs/${ids.failedRun}`, check: async (page) => {
    const { data } = await get(`/etl-runs/${ids.failedRun}`);
    expect(await page.textContent('[data-testid="rows-read"]')).toBe(number(data.rowsRead));
    expect(data).not.toHaveProperty('rowsWritten');
    expect(await page.locator('[data-testid="rows-written"]').count()).toBe(0);
    expect(await texts(page, 'tbody tr td:nth-child(3)')).toEqual(data.quarantinedRows.map((row: { reason: string }) => row.reason));
  } },
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
    // A row the pipeline must refuse (dated in the far future): a failed run with a quarantined row and its reason.
    await insertEvents(api.database, [{ tenantId: ids.tenant, userId: ids.user, name: 'clock_skew', at: '2999-01-01T00:00:00Z' }]);
    const failed = await catchUp(api.database);
    expect(failed.status).toBe('failed');
    ids.failedRun = failed.status === 'failed' ? failed.runId : 0;
    expect((await catchUp(api.database)).status).toBe('succeeded');
    ids.report = (await created('/reports', { kind: 'weekly_activity', from: addDays(today(), -27), to: today() })).id;
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('shows the day and the API\'s value in a tooltip at the cursor, from the mouse and from the keyboard', async () => {
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, '/overview');
    const { data } = await get(`/analytics/active-users?from=${addDays(today(), -27)}&to=${today()}`);
    const dau = new Map((data as { day: string; dau: number }[]).map((point) => [point.day, number(point.dau)]));
    const over = page.locator('.chart .u-over');
    const box = (await over.boundingBox())!;
    for (const share of [0.2, 0.5, 0.8]) {
      await page.mouse.move(box.x + box.width * share, box.y + box.height / 2);
      const day = await page.locator('.chart-tip').getAttribute('data-day');
      expect(dau.has(day!)).toBe(true);
      expect(await page.textContent('.chart-tip [data-series="DAU"] .chart-tip-value')).toBe(dau.get(day!));
    }
    await page.mouse.move(0, 0);
    await page.focus('.chart');
    await page.keyboard.press('End');
    expect(await page.locator('.chart-tip').getAttribute('data-day')).toBe(today());
    expect(await page.textContent('.chart-tip [data-series="DAU"] .chart-tip-value')).toBe(dau.get(today()));
    await page.keyboard.press('ArrowLeft');
    expect(await page.locator('.chart-tip').getAttribute('data-day')).toBe(addDays(today(), -1));
    expect(await page.textContent('.chart + [aria-live="polite"]')).toContain(dau.get(addDays(today(), -1))!);
    await screenshot(page, 'overview-tooltip-desktop');
    await page.keyboard.press('Tab');
    expect(await page.locator('.chart-tip').isHidden()).toBe(true);
    expect(problems.list).toEqual([]);
    await context.close();
  }, 60_000);

  it('links a report\'s lineage to the ETL run that computed it', async () => {
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    await openView(page, base, `/reports/${ids.report}`);
    const { data } = await get(`/reports/${ids.report}`);
    await page.click('.lineage summary');
    const first = data.etlRunIds[0];
    await page.click(`.run-ids a[href="#/etl-runs/${first}"]`);
    await expect.poll(() => page.textContent('main h2')).toContain(`ETL run #${first}`);
    await context.close();
  }, 60_000);

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
