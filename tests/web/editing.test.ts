import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from '../api/helpers.js';
import { axeViolations, chromiumAvailable, launch, openView, overflow, screenshot, signedInContext, VIEWPORTS, watch } from './browser.js';

let api: TestApi;
let browser: Browser;
let base: string;
let key: string;
let readOnlyKey: string;
let ids: { ada: number; grace: number; organization: number; team: number; project: number; product: number };

async function data(path: string) {
  const response = await api.call('GET', `/v1${path}`, key);
  expect(response.statusCode, response.body).toBe(200);
  return response.json().data;
}

async function post(path: string, body: unknown) {
  const response = await api.call('POST', `/v1${path}`, key, body);
  expect(response.statusCode, response.body).toBe(201);
  return response.json().data;
}

/** The state on screen passes axe-core (no serious or critical violation) and nothing is wider than the screen. */
async function accessibleAndFits(page: Page, state: string): Promise<void> {
  expect({ state, axe: await axeViolations(page), overflow: await overflow(page) }).toEqual({ state, axe: [], overflow: [] });
  await screenshot(page, `editing-${state.replace(/[^a-z0-9]+/gi, '-')}`);
}

/** What a read-write key uses to change data: none of it may show to a read-only key. */
const EDIT_CONTROLS = 'form[aria-label^="new "], form[aria-label^="edit "], form[aria-label^="rename "], form[aria-label^="add member"], '
  + 'form[aria-label="adjust stock"], button:text-matches("^(New |Delete|Remove|Add member|Save|Adjust)")';

describe.skipIf(!chromiumAvailable)('dashboard editing', () => {
  beforeAll(async () => {
    api = await testApi();
    ({ key } = await api.tenant('Editors'));
    const ada = await post('/users', { email: 'ada@example.com', username: 'ada', profile: { displayName: 'Ada' } });
    const grace = await post('/users', { email: 'grace@example.com', username: 'grace' });
    const organization = await post('/organizations', { name: 'Analytical Engines', slug: 'engines' });
    const team = await post(`/organizations/${organization.id}/teams`, { name: 'Mill', slug: 'mill' });
    const project = await post('/projects', { name: 'Difference engine', slug: 'difference', organizationId: organization.id });
    const product = await post('/products', { name: 'Punch card', slug: 'punch-card', price: 1.5 });
    ids = { ada: ada.id, grace: grace.id, organization: organization.id, team: team.id, project: project.id, product: product.id };
    readOnlyKey = (await post('/api-keys', { name: 'viewer', readOnly: true })).key;
    base = await api.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launch();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it('creates a user through the form: the API lists it and so does the refreshed table', async () => {
    const context = await signedInContext(browser, key, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, '/users');
    // By keyboard alone: Enter opens the form, Enter in a field sends it.
    await page.getByRole('button', { name: 'New user' }).press('Enter');
    const form = page.getByRole('form', { name: 'new user' });
    await accessibleAndFits(page, 'new user form');
    await form.getByLabel('Email').fill('linus@example.com');
    await form.getByLabel('Username').fill('linus');
    await form.getByLabel('Display name').fill('Linus');
    await form.getByLabel('Display name').press('Enter');
    await page.getByRole('status').getByRole('link', { name: 'linus' }).waitFor();
    const [listed] = await data('/users?email=linus@example.com');
    expect({ username: listed.username, isActive: listed.isActive }).toEqual({ username: 'linus', isActive: true });
    expect((await data(`/users/${listed.id}/full`)).profile.displayName).toBe('Linus');
    await expect.poll(() => page.locator('tbody tr td:first-child').allTextContents()).toContain('linus');
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('shows the API\'s CONFLICT beside the form for a duplicate email, and creates nothing', async () => {
    const context = await signedInContext(browser, key, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page, (url, status) => status === 409 && url.endsWith('/v1/users'));
    const before = (await data('/users?limit=100')).length;
    await openView(page, base, '/users');
    await page.getByRole('button', { name: 'New user' }).click();
    const form = page.getByRole('form', { name: 'new user' });
    await form.getByLabel('Email').fill('ada@example.com');
    await form.getByLabel('Username').fill('ada-again');
    // Held back for a moment, the request shows the form busy: its button disabled, saying so.
    let release = () => {};
    const held = new Promise<void>((resolve) => { release = resolve; });
    await page.route('**/v1/users', async (route) => { await held; await route.continue(); });
    await form.getByRole('button', { name: 'Create user' }).click();
    await form.getByRole('button', { name: 'Creating…' }).waitFor();
    expect(await form.getByRole('button', { name: 'Creating…' }).isDisabled()).toBe(true);
    release();
    await expect.poll(() => form.getByRole('alert').textContent(), { timeout: 15_000 }).toContain('CONFLICT');
    expect(await form.getByRole('button', { name: 'Create user' }).isEnabled()).toBe(true);
    expect((await data('/users?limit=100')).length).toBe(before);
    expect(await data('/users?email=ada@example.com')).toHaveLength(1);
    await accessibleAndFits(page, 'duplicate email error');
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('edits a user\'s account, profile and settings, then deletes the user', async () => {
    const context = await signedInContext(browser, key, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page);
    const user = await post('/users', { email: 'charles@example.com', username: 'charles', settings: { theme: 'light', lang: 'en' } });
    await openView(page, base, `/users/${user.id}`);
    await accessibleAndFits(page, 'user detail with its forms');
    const account = page.getByRole('form', { name: 'edit account' });
    await account.getByLabel('Username').fill('babbage');
    await account.getByLabel('Active').uncheck();
    await account.getByRole('button', { name: 'Save account' }).click();
    await page.getByRole('status').filter({ hasText: 'Account saved.' }).waitFor();
    const profile = page.getByRole('form', { name: 'edit profile' });
    await profile.getByLabel('Bio').fill('Mathematician');
    await profile.getByRole('button', { name: 'Save profile' }).click();
    await page.getByRole('status').filter({ hasText: 'Profile saved.' }).waitFor();
    const settings = page.getByRole('form', { name: 'edit settings' });
    await settings.getByLabel('Settings (JSON)').fill('{"theme": "dark"}');
    await settings.getByRole('button', { name: 'Save settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Settings saved.' }).waitFor();
    const saved = await data(`/users/${user.id}/full`);
    expect({ username: saved.username, isActive: saved.isActive, bio: saved.profile.bio, settings: saved.settings })
      .toEqual({ username: 'babbage', isActive: false, bio: 'Mathematician', settings: { theme: 'dark' } });
    await page.getByRole('button', { name: 'Delete user…' }).click();
    await page.getByRole('button', { name: 'Delete babbage' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor();
    expect((await api.call('GET', `/v1/users/${user.id}`, key)).statusCode).toBe(404);
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('creates and renames an organization, adds a team, and adds and removes the team\'s members', async () => {
    const context = await signedInContext(browser, key, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, '/organizations');
    await page.getByRole('button', { name: 'New organization' }).click();
    const create = page.getByRole('form', { name: 'new organization' });
    await create.getByLabel('Name').fill('Looms');
    await create.getByLabel('Slug').fill('looms');
    await create.getByRole('button', { name: 'Create organization' }).click();
    await expect.poll(() => page.locator('tbody tr td:first-child').allTextContents()).toContain('Looms');
    const [looms] = (await data('/organizations?limit=100')).filter((row: { slug: string }) => row.slug === 'looms');
    await page.getByRole('link', { name: 'Looms' }).first().click();
    await page.getByRole('heading', { name: /Looms/ }).waitFor();
    const rename = page.getByRole('form', { name: 'rename organization' });
    await rename.getByLabel('Name').fill('Jacquard looms');
    await rename.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: /Jacquard looms/ }).waitFor();
    expect((await data(`/organizations/${looms.id}`)).name).toBe('Jacquard looms');
    const team = page.getByRole('form', { name: 'new team' });
    await team.getByLabel('Name').fill('Weavers');
    await team.getByLabel('Slug').fill('weavers');
    await team.getByRole('button', { name: 'Create team' }).click();
    const add = page.getByRole('form', { name: 'add member to team Weavers' });
    await add.getByLabel('User').fill('ada@example.com');
    await add.getByLabel('Role').selectOption('admin');
    await add.getByRole('button', { name: 'Add member' }).click();
    const [weavers] = (await data(`/organizations/${looms.id}/teams`));
    await expect.poll(async () => (await data(`/teams/${weavers.id}/members`)).map((member: { userId: number; role: string }) => [member.userId, member.role]))
      .toEqual([[ids.ada, 'admin']]);
    await page.getByRole('button', { name: 'Remove ada from team Weavers' }).waitFor();
    await accessibleAndFits(page, 'organization with a team and a member');
    await page.getByRole('button', { name: 'Remove ada from team Weavers' }).click();
    await expect.poll(async () => (await data(`/teams/${weavers.id}/members`)).length).toBe(0);
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('adds a member to an existing team and a project by username, and names a user who does not exist', async () => {
    const context = await signedInContext(browser, key, VIEWPORTS.desktop);
    const page = await context.newPage();
    const problems = watch(page);
    await openView(page, base, `/organizations/${ids.organization}`);
    const teamForm = page.getByRole('form', { name: 'add member to team Mill' });
    await teamForm.getByLabel('User').fill(String(ids.grace));
    await teamForm.getByRole('button', { name: 'Add member' }).click();
    await expect.poll(async () => (await data(`/teams/${ids.team}/members`)).map((member: { userId: number }) => member.userId)).toEqual([ids.grace]);
    await openView(page, base, `/projects/${ids.project}`);
    const form = page.getByRole('form', { name: 'add member to project Difference engine' });
    await form.getByLabel('User').fill('nobody');
    await form.getByRole('button', { name: 'Add member' }).click();
    await expect.poll(() => form.getByRole('alert').textContent()).toContain('No user has the username “nobody”');
    await form.getByLabel('User').fill('grace');
    await form.getByLabel('Role').selectOption('owner');
    await form.getByRole('button', { name: 'Add member' }).click();
    await expect.poll(async () => (await data(`/projects/${ids.project}/members`)).map((member: { userId: number; role: string }) => [member.userId, member.role]))
      .toEqual([[ids.grace, 'owner']]);
    await page.getByRole('link', { name: 'grace' }).waitFor();
    await accessibleAndFits(page, 'project with a member');
    expect(problems.list).toEqual([]);
    await context.close();
  });

  it('shows a read-only key no edit control on any view a read-write key edits from', async () => {
    const routes = ['/users', `/users/${ids.ada}`, '/organizations', `/organizations/${ids.organization}`, '/projects', `/projects/${ids.project}`,
      '/products', `/products/${ids.product}`];
    for (const [name, as, expected] of [['read-write', key, true], ['read-only', readOnlyKey, false]] as const) {
      const context = await signedInContext(browser, as, VIEWPORTS.phone);
      const page = await context.newPage();
      // A product with no stock change yet has no stock history: the view asks, gets 404 and says so.
      const problems = watch(page, (url, status) => status === 404 && url.includes('/v1/audit?entity=inventory'));
      for (const route of routes) {
        await openView(page, base, route);
        // The header says which kind of key this is once the API has answered; only then is the view final.
        if (!expected) await page.getByTestId('read-only').waitFor();
        await expect.poll(() => page.locator(EDIT_CONTROLS).count().then((count) => count > 0)).toBe(expected);
        if (!expected) await accessibleAndFits(page, `${route} read-only`);
      }
      expect({ name, problems: problems.list }).toEqual({ name, problems: [] });
      await context.close();
    }
  });

  it('shows the API\'s READ_ONLY_KEY beside the form when the key\'s access cannot be read, and changes nothing', async () => {
    const context = await signedInContext(browser, readOnlyKey, VIEWPORTS.phone);
    const page = await context.newPage();
    const problems = watch(page, (url, status) => (status === 503 && url.includes('/v1/api-keys')) || (status === 403 && url.endsWith('/v1/users')));
    await page.route('**/v1/api-keys?*', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: '{"error":{"code":"DATABASE_UNAVAILABLE","message":"down"}}' }));
    const before = (await data('/users?limit=100')).length;
    await openView(page, base, '/users');
    await page.getByRole('button', { name: 'New user' }).click();
    const form = page.getByRole('form', { name: 'new user' });
    await form.getByLabel('Email').fill('mallory@example.com');
    await form.getByLabel('Username').fill('mallory');
    await form.getByRole('button', { name: 'Create user' }).click();
    await expect.poll(() => form.getByRole('alert').textContent(), { timeout: 15_000 }).toContain('READ_ONLY_KEY');
    expect(await form.getByRole('alert').textContent()).toContain('sign in with a read-write key');
    expect((await data('/users?limit=100')).length).toBe(before);
    await accessibleAndFits(page, 'read-only refusal');
    expect(problems.list).toEqual([]);
    await context.close();
  });
});
