import { existsSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { catchUp } from '../etl/support.js';
import { createTenantWithKey } from '../../src/services/tenants.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const available = existsSync(CHROMIUM);
if (!available) console.warn(`dashboard tests skipped: no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);

let database: TestDatabase;
let app: FastifyInstance;
let browser: Browser;
let base: string;
let tenantKey: string;
let otherKey: string;

async function call(method: string, path: string, key: string, body?: unknown) {
  const response = await app.inject({ method: method as 'POST', url: `/v1${path}`, headers: { authorization: `Bearer ${key}` }, ...(body ? { payload: body } : {}) });
  return response.json();
}

async function signIn(page: Page, key: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill('#key', key);
  await page.click('#login button');
}

describe.skipIf(!available)('dashboard', () => {
  beforeAll(async () => {
    database = await migratedDatabase();
    app = await buildApp({ database, config: loadConfig({}) });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    tenantKey = (await createTenantWithKey(database, { name: 'Shop', slug: 'shop' })).apiKey.key;
    otherKey = (await createTenantWithKey(database, { name: 'Rival', slug: 'rival' })).apiKey.key;
    const ada = (await call('POST', '/users', tenantKey, { email: 'ada@shop.io', username: 'ada' })).data;
    await call('POST', '/users', otherKey, { email: 'eve@rival.io', username: 'eve' });
    await call('POST', '/products', tenantKey, { name: 'Desk lamp', slug: 'desk-lamp', price: 49.9, tags: ['home'] });
    await call('POST', '/activities', tenantKey, { activities: [{ userId: ada.id, type: 'login', metadata: { ip: '10.0.0.1' } }] });
    // Other test files' open transactions hold the commit horizon back: wait for it, then run.
    await catchUp(database);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('shows the tenant\'s active users with lineage, and only its own users, products and activity', async () => {
    const page = await browser.newPage();
    await signIn(page, tenantKey);
    await expect.poll(() => page.textContent('#dau'), { timeout: 15_000 }).toBe('1');
    expect(await page.textContent('#lineage')).toMatch(/^\d+/);
    await page.click('nav button[data-view="users"]');
    await expect.poll(() => page.locator('#users tbody tr').count(), { timeout: 15_000 }).toBe(1);
    expect(await page.textContent('#users tbody')).toContain('ada@shop.io');
    expect(await page.textContent('#users tbody')).not.toContain('eve@rival.io');
    await page.click('nav button[data-view="products"]');
    await expect.poll(() => page.textContent('#products tbody'), { timeout: 15_000 }).toContain('Desk lamp');
    await page.click('nav button[data-view="activity"]');
    await expect.poll(() => page.textContent('#activity tbody'), { timeout: 15_000 }).toContain('10.0.0.1');
    expect(await page.textContent('#activity tbody')).toContain('login');
    await page.close();
  });

  it('shows the change history of an entity', async () => {
    const page = await browser.newPage();
    await signIn(page, tenantKey);
    await page.click('nav button[data-view="audit"]');
    await page.selectOption('#audit-lookup select', 'product');
    await page.fill('#audit-lookup input', '1');
    await page.click('#audit-lookup button');
    await expect.poll(() => page.textContent('#audit tbody'), { timeout: 15_000 }).toContain('INSERT');
    expect(await page.textContent('#audit tbody')).toContain('Desk lamp');
    await page.close();
  });

  it('runs every view under its content security policy without a violation, and so does the API\'s /docs', async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (message) => { if (/Content Security Policy/i.test(message.text())) violations.push(message.text()); });
    page.on('pageerror', (error) => violations.push(error.message));
    await signIn(page, tenantKey);
    await expect.poll(() => page.textContent('#dau'), { timeout: 15_000 }).toBe('1');
    for (const view of ['users', 'products', 'activity', 'overview', 'audit']) await page.click(`nav button[data-view="${view}"]`);
    await page.selectOption('#audit-lookup select', 'product');
    await page.fill('#audit-lookup input', '1');
    await page.click('#audit-lookup button');
    await expect.poll(() => page.textContent('#audit tbody'), { timeout: 15_000 }).toContain('INSERT');

    await page.goto(`${base}/docs`);
    await expect.poll(() => page.locator('.swagger-ui .opblock').count(), { timeout: 15_000 }).toBeGreaterThan(30);
    await page.locator('.swagger-ui .opblock-summary').first().click();
    await expect.poll(() => page.locator('.swagger-ui .opblock-body').count(), { timeout: 15_000 }).toBeGreaterThan(0);
    expect(violations).toEqual([]);
    await page.close();
  });

  it('refuses a wrong key with the API\'s error code and shows no data', async () => {
    const page = await browser.newPage();
    await signIn(page, 'strata_1_not-a-real-key');
    await expect.poll(() => page.textContent('#error'), { timeout: 15_000 }).toContain('UNAUTHENTICATED');
    expect(await page.isHidden('#tenant')).toBe(true);
    await page.close();
  });
});
