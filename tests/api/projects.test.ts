import { beforeAll, describe, expect, it } from 'vitest';
import { expectAuthRequired } from './support/auth.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { forgedCursors, walkPages } from './support/pages.js';
import { unique } from './support/seed.js';
import { twoTenants, type ApiTenant, type Seeder } from './support/two-tenants.js';

let api: CheckedApi, seed: Seeder, a: ApiTenant, b: ApiTenant;

beforeAll(async () => {
  ({ api, seed, a, b } = await twoTenants(checkedApi(), 'Projects'));
});

describe('/v1/projects', () => {
  it('creates a project in an organization, gets, patches (unlinking the organization) and deletes it', async () => {
    const organization = await seed.organization(a.key);
    const slug = unique('apollo');
    const created = await api.call('POST', '/v1/projects', a.key, { name: 'Apollo', slug, description: 'to the moon', status: 'planned', organizationId: organization.id });
    expect(created.statusCode).toBe(201);
    const project = created.json().data;
    expect(project).toMatchObject({ name: 'Apollo', slug, description: 'to the moon', status: 'planned', organizationId: organization.id });
    expect((await api.call('GET', `/v1/projects/${project.id}`, a.key)).json().data).toEqual(project);
    const patched = (await api.call('PATCH', `/v1/projects/${project.id}`, a.key, { status: 'active', organizationId: null })).json().data;
    expect(patched).toMatchObject({ id: project.id, status: 'active', organizationId: null });
    expect((await api.call('DELETE', `/v1/projects/${project.id}`, a.key)).statusCode).toBe(204);
    expectError(await api.call('GET', `/v1/projects/${project.id}`, a.key), 404, 'NOT_FOUND');
    expectError(await api.call('DELETE', `/v1/projects/${project.id}`, a.key), 404, 'NOT_FOUND');
  });

  it('refuses a taken slug with CONFLICT in create and patch', async () => {
    const [first, second] = [await seed.project(a.key), await seed.project(a.key)];
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('POST', '/v1/projects', a.key, { name: 'Again', slug: first.slug }), 409, 'CONFLICT');
      expectError(await api.call('PATCH', `/v1/projects/${second.id}`, a.key, { slug: first.slug }), 409, 'CONFLICT');
    });
  });

  it('names every bad field: status, organizationId, description, unknown ones', async () => {
    await expectUnchanged(api.database, async () => {
      const error = expectError(await api.call('POST', '/v1/projects', a.key, {
        name: 'P', slug: 'p', status: 'done', organizationId: -3, description: 'x'.repeat(10_001), owner: 'me',
      }), 400, 'VALIDATION_FAILED', ['status', 'organizationId', 'description', 'owner']);
      expect(error.details).toHaveLength(4);
      expectError(await api.call('POST', '/v1/projects', a.key, { name: 'P', slug: unique('p'), description: 'x\u0000' }), 400, 'VALIDATION_FAILED', ['description']);
      expectError(await api.call('PATCH', '/v1/projects/1', a.key, { organization_id: 1 }), 400, 'VALIDATION_FAILED', ['organization_id']);
    });
  });

  // The organization is named in the body, so the composite foreign key (tenant_id, organization_id)
  // refuses it as INTEGRITY_VIOLATION (422); RLS keeps the key's values out of the detail, so another
  // tenant's organization reads exactly like one that was never created.
  it('refuses an organization of another tenant with 422, exactly as one that does not exist', async () => {
    const theirs = await seed.organization(b.key);
    const own = await seed.project(a.key);
    await expectUnchanged(api.database, async () => {
      const foreign = expectError(await api.call('POST', '/v1/projects', a.key, { name: 'P', slug: unique('p'), organizationId: theirs.id }), 422, 'INTEGRITY_VIOLATION');
      const absent = expectError(await api.call('POST', '/v1/projects', a.key, { name: 'P', slug: unique('p'), organizationId: 2_000_000_000 }), 422, 'INTEGRITY_VIOLATION');
      expect(foreign).toEqual(absent);
      expect(JSON.stringify(foreign)).not.toContain(String(theirs.id));
      expectError(await api.call('PATCH', `/v1/projects/${own.id}`, a.key, { organizationId: theirs.id }), 422, 'INTEGRITY_VIOLATION');
    });
  });

  it('walks every project exactly once, filtered by status and organization', async () => {
    const tenant = await api.tenant('Projects pages');
    const organization = await seed.organization(tenant.key);
    const made = [];
    for (let index = 0; index < 6; index += 1) {
      made.push(await seed.project(tenant.key, { status: index % 3 === 0 ? 'paused' : 'active', organizationId: index < 4 ? organization.id : null }));
    }
    expect((await walkPages(api, '/v1/projects', tenant.key, 4)).rows.map((row) => row.id)).toEqual(made.map((row) => row.id));
    const paused = await walkPages(api, '/v1/projects?status=paused', tenant.key, 1);
    expect(paused.rows.map((row) => row.id)).toEqual([made[0]!.id, made[3]!.id]);
    const inOrganization = await walkPages(api, `/v1/projects?organizationId=${organization.id}`, tenant.key, 3);
    expect(inOrganization.rows.map((row) => row.id)).toEqual(made.slice(0, 4).map((row) => row.id));
    expectError(await api.call('GET', '/v1/projects?limit=501', tenant.key), 400, 'VALIDATION_FAILED', ['limit']);
    expectError(await api.call('GET', '/v1/projects?status=gone&organizationId=x', tenant.key), 400, 'VALIDATION_FAILED', ['status', 'organizationId']);
    for (const cursor of forgedCursors) {
      expectError(await api.call('GET', `/v1/projects?cursor=${encodeURIComponent(cursor)}`, tenant.key), 400, 'VALIDATION_FAILED', ['cursor']);
    }
  });
});

describe('/v1/projects/:id/members', () => {
  it('adds a member, changes the role, lists and removes it; deleting the project takes its members', async () => {
    const project = await seed.project(a.key);
    const user = await seed.user(a.key);
    const added = await api.call('PUT', `/v1/projects/${project.id}/members/${user.id}`, a.key, { role: 'viewer' });
    expect(added.json().data).toMatchObject({ projectId: project.id, userId: user.id, role: 'viewer' });
    await api.call('PUT', `/v1/projects/${project.id}/members/${user.id}`, a.key, { role: 'owner' });
    expect((await api.call('GET', `/v1/projects/${project.id}/members`, a.key)).json().data)
      .toEqual([expect.objectContaining({ userId: user.id, role: 'owner', email: user.email })]);
    expect((await api.call('DELETE', `/v1/projects/${project.id}/members/${user.id}`, a.key)).statusCode).toBe(204);
    expectError(await api.call('DELETE', `/v1/projects/${project.id}/members/${user.id}`, a.key), 404, 'NOT_FOUND');
    await api.call('PUT', `/v1/projects/${project.id}/members/${user.id}`, a.key, { role: 'editor' });
    await api.call('DELETE', `/v1/projects/${project.id}`, a.key);
    const left = await api.database.admin.selectFrom('project_member').select('user_id').where('tenant_id', '=', a.id).where('project_id', '=', project.id).execute();
    expect(left).toEqual([]);
  });

  it('refuses unknown roles and answers 404 for a user of another tenant as for one that does not exist', async () => {
    const project = await seed.project(a.key);
    const foreignUser = await seed.user(b.key);
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('PUT', `/v1/projects/${project.id}/members/${foreignUser.id}`, a.key, { role: 'admin' }), 400, 'VALIDATION_FAILED', ['role']);
      const foreign = expectError(await api.call('PUT', `/v1/projects/${project.id}/members/${foreignUser.id}`, a.key, { role: 'viewer' }), 404, 'NOT_FOUND');
      const absent = expectError(await api.call('PUT', `/v1/projects/${project.id}/members/2000000000`, a.key, { role: 'viewer' }), 404, 'NOT_FOUND');
      expect(foreign.message.replace(String(foreignUser.id), 'N')).toBe(absent.message.replace('2000000000', 'N'));
    });
  });
});

describe('another tenant\'s projects', () => {
  it('answers 404 to B\'s key on every route naming A\'s project, and changes nothing', async () => {
    const project = await seed.project(a.key);
    const user = await seed.user(a.key);
    await api.call('PUT', `/v1/projects/${project.id}/members/${user.id}`, a.key, { role: 'editor' });
    const ownUser = await seed.user(b.key);
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/projects/${project.id}`],
      ['PATCH', `/v1/projects/${project.id}`, { name: 'Stolen' }],
      ['DELETE', `/v1/projects/${project.id}`],
      ['GET', `/v1/projects/${project.id}/members`],
      ['PUT', `/v1/projects/${project.id}/members/${user.id}`, { role: 'owner' }],
      ['PUT', `/v1/projects/${project.id}/members/${ownUser.id}`, { role: 'owner' }],
      ['DELETE', `/v1/projects/${project.id}/members/${user.id}`],
    ];
    await expectUnchanged(api.database, async () => {
      for (const [method, url, body] of routes) expectError(await api.call(method, url, b.key, body), 404, 'NOT_FOUND');
    });
    expect((await walkPages(api, '/v1/projects', b.key, 500)).rows.map((row) => row.id)).not.toContain(project.id);
  });
});

describe('authentication on project routes', () => {
  it('refuses a missing, wrong, revoked or admin key with 401 on every route, and changes nothing', async () => {
    const project = await seed.project(a.key);
    const user = await seed.user(a.key);
    const revoked = await seed.revokedKey(a.key);
    await expectAuthRequired(api, [
      { method: 'POST', url: '/v1/projects', body: { name: 'X', slug: 'x' } },
      { method: 'GET', url: '/v1/projects' },
      { method: 'GET', url: `/v1/projects/${project.id}` },
      { method: 'PATCH', url: `/v1/projects/${project.id}`, body: { name: 'Y' } },
      { method: 'DELETE', url: `/v1/projects/${project.id}` },
      { method: 'GET', url: `/v1/projects/${project.id}/members` },
      { method: 'PUT', url: `/v1/projects/${project.id}/members/${user.id}`, body: { role: 'viewer' } },
      { method: 'DELETE', url: `/v1/projects/${project.id}/members/${user.id}` },
    ], a, revoked);
  });
});
