import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from '../api/helpers.js';
import { axeViolations, chromiumAvailable, launch, openView, overflow, screenshot, signedInContext, VIEWPORTS, watch } from './browser.js';

let api: TestApi;
let browser: Browser;
let base: string;
let key: string;
let readOnlyKey: string;

async function call(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown) {
  const response = await api.call(method, `/v1${path}`, key, body);
  expect(response.statusCode, response.body).toBeLessThan(300);
  return response.statusCode === 204 ? null : response.json().data;
}

const status = async (path: string) => (await api.call('GET', `/v1${path}`, key)).statusCode;

/** The state on screen passes axe-core (no serious or critical violation) and nothing is wider than the screen. */
async function accessibleAndFits(page: Page, state: string): Promise<void> {
  expect({ state, axe: await axeViolations(page), overflow: await overflow(page) }).toEqual({ state, axe: [], overflow: [] });
  await screenshot(page, `deleting-${state.replace(/[^a-z0-9]+/gi, '-')}`);
}

const focusedText = (page: Page) => page.evaluate(() => document.activeElement?.textContent ?? '');

describe.skipIf(!chromiumAvailable)('dashboard renaming and deleting', () => {
  beforeAll(async () => {
    api = await testApi();
    ({ key } = await api.tenant('Deleters'));
    readOnlyKey = (await call('POST', '/api-keys', { name: 'viewer', readOnly: true })).key;
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('renames a team, shows the API\'s CONFLICT for a taken slug, and deletes a team after a confirm step used by keyboard', async () => {
    const organization = await call('POST', '/organizations', { name: 'Mills', slug: 'mills' });
    const mill = await call('POST', `/organizations/${organization.id}/teams`, { name: 'Mill', slug: 'mill' });
    const store = await call('POST', `/organizations/${organization.id}/teams`, { name: 'Store', slug: 'store' });
    for (const [size, viewport] of Object.entries(VIEWPORTS)) {
      const context = await signedInContext(browser, key, viewport);
      const page = await context.newPage();
      await openView(page, base, `/organizations/${organization.id}`);
      await accessibleAndFits(page, `organization with team forms ${size}`);
      await context.close();
    }
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    const problems = watch(page, (url, code) => code === 409 && url.endsWith(`/v1/teams/${store.id}`));
    await openView(page, base, `/organizations/${organization.id}`);
    const rename = page.getByRole('form', { name: 'rename team Mill' });
    await rename.getByLabel('Name').fill('Grinding mill');
    await rename.getByLabel('Slug').fill('grinding');
    await rename.getByRole('button', { name: 'Save team' }).click();
    await page.getByRole('status').filter({ hasText: 'Team Grinding mill saved.' }).waitFor();
    expect(await call('GET', `/teams/${mill.id}`)).toMatchObject({ name: 'Grinding mill', slug: 'grinding' });
    await page.getByRole('form', { name: 'rename team Grinding mill' }).waitFor();

    const taken = page.getByRole('form', { name: 'rename team Store' });
    await taken.getByLabel('Slug').fill('grinding');
    await taken.getByRole('button', { name: 'Save team' }).click();
    await expect.poll(() => taken.getByRole('alert').textContent()).toContain('CONFLICT');
    expect(await taken.getByRole('alert').textContent()).toMatch(/CONFLICT: .*slug/i);
    expect((await call('GET', `/teams/${store.id}`)).slug).toBe('store');
    await accessibleAndFits(page, 'team rename conflict');

    // Keyboard only: Enter opens the step, focus is on its question, Escape closes it and gives focus back.
    await page.getByRole('button', { name: 'Delete team Store…' }).press('Enter');
    const confirm = page.getByRole('form', { name: 'delete team Store' });
    await expect.poll(() => focusedText(page)).toContain('Delete Store? Its memberships go with it.');
    await accessibleAndFits(page, 'team delete confirm');
    await page.keyboard.press('Escape');
    await expect.poll(() => confirm.count()).toBe(0);
    await expect.poll(() => focusedText(page)).toBe('Delete team Store…');
    expect(await status(`/teams/${store.id}`)).toBe(200);
    await page.keyboard.press('Enter');
    await expect.poll(() => focusedText(page)).toContain('Delete Store?');
    await page.keyboard.press('Tab');
    expect(await focusedText(page)).toBe('Delete Store');
    await page.keyboard.press('Enter');
    await page.getByRole('status').filter({ hasText: 'Team Store deleted.' }).waitFor();
    expect(await status(`/teams/${store.id}`)).toBe(404);
    expect((await call('GET', `/organizations/${organization.id}/teams`)).map((team: { id: number }) => team.id)).toEqual([mill.id]);
    expect(await page.getByRole('heading', { name: /Store/ }).count()).toBe(0);
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('shows the API\'s NOT_FOUND in the confirm step when the team was deleted meanwhile', async () => {
    const organization = await call('POST', '/organizations', { name: 'Docks', slug: 'docks' });
    const team = await call('POST', `/organizations/${organization.id}/teams`, { name: 'Crane', slug: 'crane' });
    const context = await signedInContext(browser, key, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page, (url, code) => code === 404 && url.endsWith(`/v1/teams/${team.id}`));
    await openView(page, base, `/organizations/${organization.id}`);
    await page.getByRole('button', { name: 'Delete team Crane…' }).click();
    await call('DELETE', `/teams/${team.id}`);
    const confirm = page.getByRole('form', { name: 'delete team Crane' });
    await confirm.getByRole('button', { name: 'Delete Crane' }).click();
    await expect.poll(() => confirm.getByRole('alert').textContent()).toContain(`NOT_FOUND: team ${team.id} does not exist`);
    await accessibleAndFits(page, 'team delete not found');
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('deletes an organization and returns to the list; its project stays, with no organization', async () => {
    const organization = await call('POST', '/organizations', { name: 'Foundry', slug: 'foundry' });
    await call('POST', `/organizations/${organization.id}/teams`, { name: 'Casters', slug: 'casters' });
    const project = await call('POST', '/projects', { name: 'Bell', slug: 'bell', organizationId: organization.id });
    const context = await signedInContext(browser, key, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, `/organizations/${organization.id}`);
    await page.getByRole('button', { name: 'Delete organization…' }).click();
    const confirm = page.getByRole('form', { name: 'delete organization' });
    expect(await confirm.textContent()).toContain('Delete Foundry? Its teams and their memberships go with it; its projects stay');
    await accessibleAndFits(page, 'organization delete confirm');
    await confirm.getByRole('button', { name: 'Delete Foundry' }).click();
    await page.getByRole('heading', { name: 'Organizations' }).waitFor();
    expect(page.url()).toMatch(/#\/organizations$/);
    expect(await status(`/organizations/${organization.id}`)).toBe(404);
    expect((await call('GET', `/projects/${project.id}`)).organizationId).toBeNull();
    await expect.poll(() => page.locator('main').textContent()).not.toContain('Foundry');
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('deletes a project and returns to the list', async () => {
    const project = await call('POST', '/projects', { name: 'Orrery', slug: 'orrery' });
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, `/projects/${project.id}`);
    await page.getByRole('button', { name: 'Delete project…' }).click();
    const confirm = page.getByRole('form', { name: 'delete project' });
    await accessibleAndFits(page, 'project delete confirm');
    await confirm.getByRole('button', { name: 'Delete Orrery' }).click();
    await page.getByRole('heading', { name: 'Projects' }).waitFor();
    expect(page.url()).toMatch(/#\/projects$/);
    expect(await status(`/projects/${project.id}`)).toBe(404);
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('shows a read-only key no rename or delete control on an organization, its teams or a project', async () => {
    const organization = await call('POST', '/organizations', { name: 'Archive', slug: 'archive' });
    await call('POST', `/organizations/${organization.id}/teams`, { name: 'Keepers', slug: 'keepers' });
    const project = await call('POST', '/projects', { name: 'Catalogue', slug: 'catalogue', organizationId: organization.id });
    const controls = 'form[aria-label^="rename "], button:text-matches("^(Delete|Save)")';
    for (const [name, as, expected] of [['read-write', key, 8], ['read-only', readOnlyKey, 0]] as const) {
      const context = await signedInContext(browser, as, VIEWPORTS.phone);
      const page = await context.newPage();
      const problems = watch(page);
      let count = 0;
      for (const route of [`/organizations/${organization.id}`, `/projects/${project.id}`]) {
        await openView(page, base, route);
        if (name === 'read-only') await page.getByTestId('read-only').waitFor();
        else await page.getByRole('button', { name: /^Delete (organization|project)…$/ }).waitFor();
        count += await page.locator(controls).count();
        if (name === 'read-only') await accessibleAndFits(page, `${route} read-only`);
      }
      // Read-write: the organization's rename form and Save, the team's rename form and Save, the
      // organization's, the team's and the project's Delete, the project's Save.
      expect({ name, count, problems: problems.list }).toEqual({ name, count: expected, problems: [] });
      await context.close();
    }
  });
});
