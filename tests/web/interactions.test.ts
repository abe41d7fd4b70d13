import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from '../api/helpers.js';
import { chromiumAvailable, launch, openView, signedInContext, VIEWPORTS, watch } from './browser.js';

let api: TestApi;
let browser: Browser;
let base: string;
let tenant: { id: number; key: string };
let productId: number;

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

describe.skipIf(!chromiumAvailable)('dashboard interactions', () => {
  beforeAll(async () => {
    api = await testApi();
    tenant = await api.tenant('Shop');
    const product = await api.call('POST', '/v1/products', tenant.key, { name: 'Desk lamp', slug: 'desk-lamp', price: 49.9, tags: ['home'] });
    productId = product.json().data.id;
    await api.call('POST', `/v1/products/${productId}/inventory/adjust`, tenant.key, { delta: 5 }, { 'idempotency-key': 'stock-1' });
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('signs in with a tenant key into the overview, keeps the key for the tab only, and signs out', async () => {
    const context = await browser.newContext({ viewport: VIEWPORTS.desktop });
    const page = await context.newPage();
    const problems = watch(page);
    await signIn(page, tenant.key);
    await page.getByRole('heading', { name: 'Active users' }).waitFor();
    expect(page.url()).toContain('#/overview');
    expect(await page.evaluate(() => [sessionStorage.getItem('strata.key') !== null, localStorage.length])).toEqual([true, 0]);
    // Another tab of the same browser starts signed out.
    const other = await context.newPage();
    await other.goto(`${base}/dashboard/#/overview`);
    await other.getByLabel('API key').waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('strata.key'))).toBeNull();
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('refuses a wrong key with the API\'s error code and what to do next, and shows no data', async () => {
    const page = await browser.newPage();
    watch(page, () => true);
    await signIn(page, 'strata_1_not-a-real-key');
    await expect.poll(() => page.textContent('[role="alert"]'), { timeout: 15_000 }).toContain('UNAUTHENTICATED');
    expect(await page.locator('.main-nav').count()).toBe(0);
    expect(await page.evaluate(() => sessionStorage.getItem('strata.key'))).toBeNull();
    await page.close();
  });

  it('opens tenant administration with the admin key: creates a tenant, issues and revokes its keys', async () => {
    const page = await browser.newPage({ viewport: VIEWPORTS.phone });
    const problems = watch(page);
    await signIn(page, api.adminKey);
    await page.getByRole('heading', { name: 'Tenants' }).waitFor();
    await page.getByLabel('Name').fill('Fresh Co');
    await page.getByLabel('Slug').fill('fresh-co');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    const firstKey = await page.getByTestId('new-key').textContent();
    expect(firstKey).toMatch(/^strata_\d+_/);
    const listed = (await api.call('GET', `/v1/api-keys`, firstKey)).json();
    expect(listed.data).toHaveLength(1);
    await page.getByRole('link', { name: 'Fresh Co' }).click();
    await page.getByLabel('Key name').fill('reporting');
    await page.getByLabel('Read-only').check();
    await page.getByRole('button', { name: 'Issue key' }).click();
    const issued = await page.getByTestId('new-key').textContent();
    expect((await api.call('GET', '/v1/users', issued)).statusCode).toBe(200);
    expect((await api.call('POST', '/v1/users', issued, { email: 'a@b.io', username: 'ab' })).statusCode).toBe(403);
    await page.getByRole('button', { name: 'Revoke key reporting' }).click();
    await expect.poll(() => page.textContent('tbody'), { timeout: 15_000 }).toMatch(/revoked/);
    expect((await api.call('GET', '/v1/users', issued)).statusCode).toBe(401);
    expect(problems.list).toEqual([]);
    await page.close();
  });

  it('adjusts stock, and shows the API\'s error plainly when the stock would go below zero', async () => {
    const context = await signedInContext(browser, tenant.key, VIEWPORTS.desktop);
    const page = await context.newPage();
    const problems = watch(page, (url, status) => status === 422 && url.endsWith('/inventory/adjust'));
    await openView(page, base, `/products/${productId}`);
    await page.getByLabel('Change by').fill('3');
    await page.getByRole('button', { name: 'Adjust' }).click();
    await expect.poll(() => page.getByTestId('stock').textContent(), { timeout: 15_000 }).toBe('8');
    await page.getByLabel('Change by').fill('-100');
    await page.getByRole('button', { name: 'Adjust' }).click();
    await expect.poll(() => page.textContent('form[aria-label="adjust stock"] [role="alert"]'), { timeout: 15_000 }).toContain('INSUFFICIENT_INVENTORY');
    expect((await api.call('GET', `/v1/products/${productId}/inventory`, tenant.key)).json().data.quantity).toBe(8);
    // The edit form sends the API's validation error back field by field.
    await page.getByLabel('Price').fill('-1');
    await page.getByLabel('Price').evaluate((input: HTMLInputElement) => input.removeAttribute('min'));
    await page.getByRole('button', { name: 'Save' }).click();
    await expect.poll(() => page.textContent('form[aria-label="edit product"] [role="alert"]'), { timeout: 15_000 }).toMatch(/VALIDATION_FAILED|CHECK_VIOLATION/);
    expect(problems.list.filter((problem) => !/^400: .*\/products\/\d+$/.test(problem))).toEqual([]);
    await context.close();
  });

  it('keeps view and filters in the URL: the back button returns to them and the keyboard reaches the views', async () => {
    const context = await signedInContext(browser, tenant.key, VIEWPORTS.desktop);
    const page = await context.newPage();
    await openView(page, base, '/products');
    await page.getByLabel('Search').fill('lamp');
    await page.getByRole('button', { name: 'Search' }).click();
    await expect.poll(() => page.url()).toContain('#/products?q=lamp');
    await page.getByRole('link', { name: 'Desk lamp' }).click();
    await page.getByRole('heading', { name: /Desk lamp/ }).waitFor();
    await page.goBack();
    await expect.poll(() => page.getByLabel('Search').inputValue()).toBe('lamp');
    // Tab from the top of a fresh page: skip link, sign-out, then the views in order; Enter opens one.
    const fresh = await context.newPage();
    await openView(fresh, base, '/users');
    await fresh.keyboard.press('Tab');
    expect(await fresh.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    let label = '';
    for (let step = 0; step < 8 && label !== 'Metrics'; step += 1) {
      await fresh.keyboard.press('Tab');
      label = await fresh.evaluate(() => document.activeElement?.textContent ?? '');
    }
    expect(label).toBe('Metrics');
    await fresh.keyboard.press('Enter');
    await fresh.getByRole('heading', { name: 'Metrics' }).waitFor();
    await context.close();
  });

  it('runs the dashboard and the API\'s /docs under their content security policy without a violation', async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) violations.push(message.text()); });
    page.on('pageerror', (error) => violations.push(error.message));
    await signIn(page, tenant.key);
    await page.getByRole('heading', { name: 'Active users' }).waitFor();
    await page.goto(`${base}/docs`);
    await expect.poll(() => page.locator('.swagger-ui .opblock').count(), { timeout: 15_000 }).toBeGreaterThan(30);
    await page.locator('.swagger-ui .opblock-summary').first().click();
    await expect.poll(() => page.locator('.swagger-ui .opblock-body').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    await page.close();
  });
});
