import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from '../api/helpers.js';
import { chromiumAvailable, launch, openView, signedInContext, VIEWPORTS, watch } from './browser.js';

let api: TestApi;
let browser: Browser;
let base: string;
let key: string;

async function call(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown, headers?: Record<string, string>) {
  const response = await api.call(method, `/v1${path}`, key, body, headers);
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.json().data;
}

describe.skipIf(!chromiumAvailable)('dashboard drafts', () => {
  beforeAll(async () => {
    api = await testApi();
    ({ key } = await api.tenant('Drafters'));
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('keeps what is typed in one of a user\'s forms while another is saved, and redraws only the saved one', async () => {
    const user = await call('POST', '/users', { email: 'mary@example.com', username: 'mary', settings: { theme: 'light' } });
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, `/users/${user.id}`);
    const account = page.getByRole('form', { name: 'edit account' });
    const profile = page.getByRole('form', { name: 'edit profile' });
    const settings = page.getByRole('form', { name: 'edit settings' });
    await profile.getByLabel('Bio').fill('Draft, not saved');
    await profile.getByLabel('Display name').fill('Mary S.');
    // Changed elsewhere while the page is open: the untouched settings form shows it after the reload.
    await call('PATCH', `/users/${user.id}/settings`, { theme: 'dark' });
    // Typed with spaces the API trims: the saved form shows what was stored, not what was typed.
    await account.getByLabel('Username').fill('  somerville  ');
    await account.getByRole('button', { name: 'Save account' }).click();
    await page.getByRole('status').filter({ hasText: 'Account saved.' }).waitFor();
    await page.getByRole('heading', { name: /somerville/ }).waitFor();
    await expect.poll(() => account.getByLabel('Username').inputValue()).toBe('somerville');
    expect(await profile.getByLabel('Bio').inputValue()).toBe('Draft, not saved');
    expect(await profile.getByLabel('Display name').inputValue()).toBe('Mary S.');
    expect(JSON.parse(await settings.getByLabel('Settings (JSON)').inputValue())).toEqual({ theme: 'dark' });
    const stored = await call('GET', `/users/${user.id}/full`);
    expect({ username: stored.username, bio: stored.profile?.bio ?? null, displayName: stored.profile?.displayName ?? null })
      .toEqual({ username: 'somerville', bio: null, displayName: null });
    // The draft is still the one sent when its own form is saved.
    await profile.getByRole('button', { name: 'Save profile' }).click();
    await page.getByRole('status').filter({ hasText: 'Profile saved.' }).waitFor();
    expect((await call('GET', `/users/${user.id}/full`)).profile).toMatchObject({ bio: 'Draft, not saved', displayName: 'Mary S.' });
    expect(await account.getByLabel('Username').inputValue()).toBe('somerville');
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('saves a settings draft as the changes typed, keeping a key another client added meanwhile', async () => {
    const user = await call('POST', '/users', { email: 'ada@example.com', username: 'ada', settings: { theme: 'light', density: 'compact' } });
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, `/users/${user.id}`);
    const settings = page.getByRole('form', { name: 'edit settings' });
    // The draft changes the theme and removes the density.
    await settings.getByLabel('Settings (JSON)').fill('{"theme": "dark"}');
    await call('PATCH', `/users/${user.id}/settings`, { beta: true });
    // Another form's save reloads the user, beta included, under the open draft.
    const account = page.getByRole('form', { name: 'edit account' });
    await account.getByLabel('Username').fill('ada-l');
    await account.getByRole('button', { name: 'Save account' }).click();
    await page.getByRole('status').filter({ hasText: 'Account saved.' }).waitFor();
    await page.getByRole('heading', { name: /ada-l/ }).waitFor();
    await page.waitForLoadState('networkidle');
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Settings saved.' }).waitFor();
    expect((await call('GET', `/users/${user.id}/full`)).settings).toEqual({ theme: 'dark', beta: true });
    await expect.poll(async () => JSON.parse(await settings.getByLabel('Settings (JSON)').inputValue()) as unknown).toEqual({ theme: 'dark', beta: true });
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('keeps an organization\'s new name typed while a team is created on it', async () => {
    const organization = await call('POST', '/organizations', { name: 'Babbage & Co', slug: 'babbage' });
    const context = await signedInContext(browser, key, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, `/organizations/${organization.id}`);
    const rename = page.getByRole('form', { name: 'rename organization' });
    await rename.getByLabel('Name').fill('Babbage and Company');
    const team = page.getByRole('form', { name: 'new team' });
    await team.getByLabel('Name').fill('Engine room');
    await team.getByLabel('Slug').fill('engine-room');
    await team.getByRole('button', { name: 'Create team' }).click();
    await page.getByRole('form', { name: 'add member to team Engine room' }).waitFor();
    await page.waitForLoadState('networkidle');
    expect(await rename.getByLabel('Name').inputValue()).toBe('Babbage and Company');
    expect([await team.getByLabel('Name').inputValue(), await team.getByLabel('Slug').inputValue()]).toEqual(['', '']);
    expect((await call('GET', `/organizations/${organization.id}`)).name).toBe('Babbage & Co');
    expect((await call('GET', `/organizations/${organization.id}/teams`)).map((row: { slug: string }) => row.slug)).toEqual(['engine-room']);
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('keeps a product\'s edited details while its stock is adjusted', async () => {
    const product = await call('POST', '/products', { name: 'Slide rule', slug: 'slide-rule', price: 12 });
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    // A product with no stock change yet has no stock history: the view asks, gets 404 and says so.
    const problems = watch(page, (url, status) => status === 404 && url.includes('/v1/audit?entity=inventory'));
    await openView(page, base, `/products/${product.id}`);
    const details = page.getByRole('form', { name: 'edit product' });
    await details.getByLabel('Name').fill('Circular slide rule');
    await details.getByLabel('Price').fill('15.5');
    const stock = page.getByRole('form', { name: 'adjust stock' });
    await stock.getByLabel('Change by').fill('7');
    await stock.getByRole('button', { name: 'Adjust' }).click();
    await page.getByRole('status').filter({ hasText: 'Stock adjusted.' }).waitFor();
    await expect.poll(() => page.getByTestId('stock').textContent()).toBe('7');
    await page.waitForLoadState('networkidle');
    expect([await details.getByLabel('Name').inputValue(), await details.getByLabel('Price').inputValue()]).toEqual(['Circular slide rule', '15.5']);
    expect((await call('GET', `/products/${product.id}/inventory`)).quantity).toBe(7);
    expect((await call('GET', `/products/${product.id}`)).name).toBe('Slide rule');
    expect(problems.list).toEqual([]);
    await context.close();
  });
});
