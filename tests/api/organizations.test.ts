import { beforeAll, describe, expect, it } from 'vitest';
import { expectAuthRequired } from './support/auth.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { forgedCursors, walkPages } from './support/pages.js';
import { unique } from './support/seed.js';
import { twoTenants, type ApiTenant, type Seeder } from './support/two-tenants.js';

let api: CheckedApi, seed: Seeder, a: ApiTenant, b: ApiTenant;

beforeAll(async () => {
  ({ api, seed, a, b } = await twoTenants(checkedApi(), 'Orgs'));
});

describe('/v1/organizations', () => {
  it('creates, gets, patches and deletes an organization', async () => {
    const slug = unique('acme');
    const created = await api.call('POST', '/v1/organizations', a.key, { name: '  Acme  ', slug });
    expect(created.statusCode).toBe(201);
    const organization = created.json().data;
    expect(organization).toMatchObject({ name: 'Acme', slug });
    expect(organization).not.toHaveProperty('tenantId');
    expect((await api.call('GET', `/v1/organizations/${organization.id}`, a.key)).json().data).toEqual(organization);
    const patched = await api.call('PATCH', `/v1/organizations/${organization.id}`, a.key, { name: 'Acme Ltd' });
    expect(patched.json().data).toEqual({ ...organization, name: 'Acme Ltd' });
    expect((await api.call('DELETE', `/v1/organizations/${organization.id}`, a.key)).statusCode).toBe(204);
    expectError(await api.call('GET', `/v1/organizations/${organization.id}`, a.key), 404, 'NOT_FOUND');
  });

  it('refuses a taken slug with CONFLICT, in create and in patch', async () => {
    const [first, second] = [await seed.organization(a.key), await seed.organization(a.key)];
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('POST', '/v1/organizations', a.key, { name: 'Again', slug: first.slug }), 409, 'CONFLICT');
      expectError(await api.call('PATCH', `/v1/organizations/${second.id}`, a.key, { slug: first.slug }), 409, 'CONFLICT');
    });
    expect((await api.call('POST', '/v1/organizations', b.key, { name: 'Same slug elsewhere', slug: first.slug })).statusCode).toBe(201);
  });

  it('names every bad field and refuses empty patches, unknown fields and unstorable text', async () => {
    const organization = await seed.organization(a.key);
    await expectUnchanged(api.database, async () => {
      const error = expectError(await api.call('POST', '/v1/organizations', a.key, { name: '   ', slug: 'Not A Slug', tenantId: b.id }),
        400, 'VALIDATION_FAILED', ['name', 'slug', 'tenantId']);
      expect(error.details).toHaveLength(3);
      expectError(await api.call('PATCH', `/v1/organizations/${organization.id}`, a.key, {}), 400, 'VALIDATION_FAILED');
      expectError(await api.call('PATCH', `/v1/organizations/${organization.id}`, a.key, { name: 'nul\u0000' }), 400, 'VALIDATION_FAILED', ['name']);
      expectError(await api.call('POST', '/v1/organizations', a.key, { name: 'half \ud800', slug: unique('s') }), 400, 'VALIDATION_FAILED', ['name']);
    });
  });

  it('walks every organization exactly once and refuses limit 501 and forged cursors', async () => {
    const tenant = await api.tenant('Orgs pages');
    const made = [];
    for (let index = 0; index < 5; index += 1) made.push(await seed.organization(tenant.key));
    const { rows } = await walkPages(api, '/v1/organizations', tenant.key, 2);
    expect(rows.map((row) => row.id)).toEqual(made.map((row) => row.id));
    expect((await api.call('GET', '/v1/organizations?limit=500', tenant.key)).json().data).toHaveLength(5);
    expectError(await api.call('GET', '/v1/organizations?limit=501', tenant.key), 400, 'VALIDATION_FAILED', ['limit']);
    for (const cursor of forgedCursors) {
      expectError(await api.call('GET', `/v1/organizations?cursor=${encodeURIComponent(cursor)}`, tenant.key), 400, 'VALIDATION_FAILED', ['cursor']);
    }
  });

  it('deleting an organization takes its teams and memberships and unlinks its projects', async () => {
    const organization = await seed.organization(a.key);
    const team = await seed.team(a.key, organization.id);
    const user = await seed.user(a.key);
    await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'owner' });
    const project = await seed.project(a.key, { organizationId: organization.id });
    expect((await api.call('DELETE', `/v1/organizations/${organization.id}`, a.key)).statusCode).toBe(204);
    expectError(await api.call('GET', `/v1/teams/${team.id}`, a.key), 404, 'NOT_FOUND');
    const memberships = await api.database.admin.selectFrom('membership').select('user_id').where('tenant_id', '=', a.id).where('team_id', '=', team.id).execute();
    expect(memberships).toEqual([]);
    expect((await api.call('GET', `/v1/projects/${project.id}`, a.key)).json().data).toMatchObject({ id: project.id, organizationId: null });
  });
});

describe('/v1/organizations/:id/teams and /v1/teams/:id', () => {
  it('creates teams, lists them with their members, and patches, gets and deletes a team', async () => {
    const organization = await seed.organization(a.key);
    const created = await api.call('POST', `/v1/organizations/${organization.id}/teams`, a.key, { name: 'Core', slug: 'core' });
    expect(created.statusCode).toBe(201);
    const team = created.json().data;
    expect(team).toMatchObject({ organizationId: organization.id, name: 'Core', slug: 'core' });
    const user = await seed.user(a.key);
    await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'admin' });
    const listed = await api.call('GET', `/v1/organizations/${organization.id}/teams`, a.key);
    expect(listed.json().data).toEqual([{ ...team, members: [{ userId: user.id, role: 'admin', username: user.username, email: user.email }] }]);
    expect((await api.call('PATCH', `/v1/teams/${team.id}`, a.key, { name: 'Platform' })).json().data).toEqual({ ...team, name: 'Platform' });
    expect((await api.call('GET', `/v1/teams/${team.id}`, a.key)).json().data).toEqual({ ...team, name: 'Platform' });
    expect((await api.call('DELETE', `/v1/teams/${team.id}`, a.key)).statusCode).toBe(204);
    expect((await api.call('GET', `/v1/organizations/${organization.id}/teams`, a.key)).json().data).toEqual([]);
  });

  // team_tenant_slug_key makes a team slug unique in the tenant, not merely in its organization.
  it('refuses a team slug taken anywhere in the tenant with CONFLICT; another tenant may use it', async () => {
    const [first, second] = [await seed.organization(a.key), await seed.organization(a.key)];
    const slug = unique('same');
    await seed.team(a.key, first.id, { slug });
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('POST', `/v1/organizations/${first.id}/teams`, a.key, { name: 'Again', slug }), 409, 'CONFLICT');
      expectError(await api.call('POST', `/v1/organizations/${second.id}/teams`, a.key, { name: 'Again', slug }), 409, 'CONFLICT');
    });
    const elsewhere = await seed.organization(b.key);
    expect((await api.call('POST', `/v1/organizations/${elsewhere.id}/teams`, b.key, { name: 'Same', slug })).statusCode).toBe(201);
  });

  it('validates team bodies and ids', async () => {
    const organization = await seed.organization(a.key);
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('POST', `/v1/organizations/${organization.id}/teams`, a.key, { name: 1, slug: '-x-', organizationId: 9 }),
        400, 'VALIDATION_FAILED', ['name', 'slug', 'organizationId']);
      expectError(await api.call('POST', '/v1/organizations/0/teams', a.key, { name: 'T', slug: 't' }), 400, 'VALIDATION_FAILED', ['id']);
      expectError(await api.call('POST', `/v1/organizations/${2_000_000_000}/teams`, a.key, { name: 'T', slug: 't' }), 404, 'NOT_FOUND');
    });
  });
});

describe('/v1/teams/:id/members/:userId', () => {
  it('adds a member, changes the role in place, lists and removes the member', async () => {
    const team = await seed.team(a.key, (await seed.organization(a.key)).id);
    const user = await seed.user(a.key);
    const added = await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'member' });
    expect(added.json().data).toMatchObject({ teamId: team.id, userId: user.id, role: 'member' });
    await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'owner' });
    const members = (await api.call('GET', `/v1/teams/${team.id}/members`, a.key)).json().data;
    expect(members).toEqual([expect.objectContaining({ userId: user.id, role: 'owner', username: user.username })]);
    expect((await api.call('DELETE', `/v1/teams/${team.id}/members/${user.id}`, a.key)).statusCode).toBe(204);
    expect((await api.call('GET', `/v1/teams/${team.id}/members`, a.key)).json().data).toEqual([]);
    expectError(await api.call('DELETE', `/v1/teams/${team.id}/members/${user.id}`, a.key), 404, 'NOT_FOUND');
  });

  it('refuses an unknown role, a missing role and bad ids', async () => {
    const team = await seed.team(a.key, (await seed.organization(a.key)).id);
    const user = await seed.user(a.key);
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'god' }), 400, 'VALIDATION_FAILED', ['role']);
      expectError(await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, {}), 400, 'VALIDATION_FAILED', ['role']);
      expectError(await api.call('PUT', `/v1/teams/${team.id}/members/-1`, a.key, { role: 'member' }), 400, 'VALIDATION_FAILED', ['userId']);
    });
  });

  // 404, not 422: the user is named in the path, and a path naming a row the caller cannot see is
  // NOT_FOUND by contract. The repository selects team and user within the tenant, so another
  // tenant's user is indistinguishable from an id that was never issued; a 422 from the composite
  // foreign key would be the same for both, but would describe a body, not a resource.
  it('answers 404 for a member from another tenant, exactly as for a user that does not exist', async () => {
    const team = await seed.team(a.key, (await seed.organization(a.key)).id);
    const foreignUser = await seed.user(b.key);
    await expectUnchanged(api.database, async () => {
      const foreign = expectError(await api.call('PUT', `/v1/teams/${team.id}/members/${foreignUser.id}`, a.key, { role: 'member' }), 404, 'NOT_FOUND');
      const absent = expectError(await api.call('PUT', `/v1/teams/${team.id}/members/2000000000`, a.key, { role: 'member' }), 404, 'NOT_FOUND');
      expect(foreign.message.replace(String(foreignUser.id), 'N')).toBe(absent.message.replace('2000000000', 'N'));
    });
  });
});

describe('another tenant\'s organizations and teams', () => {
  it('answers 404 to B\'s key on every route naming A\'s organization, team or member, and changes nothing', async () => {
    const organization = await seed.organization(a.key);
    const team = await seed.team(a.key, organization.id);
    const user = await seed.user(a.key);
    await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'member' });
    const ownUser = await seed.user(b.key);
    const routes: [string, string, unknown?][] = [
      ['GET', `/v1/organizations/${organization.id}`],
      ['PATCH', `/v1/organizations/${organization.id}`, { name: 'Stolen' }],
      ['DELETE', `/v1/organizations/${organization.id}`],
      ['POST', `/v1/organizations/${organization.id}/teams`, { name: 'Intruders', slug: 'intruders' }],
      ['GET', `/v1/organizations/${organization.id}/teams`],
      ['GET', `/v1/teams/${team.id}`],
      ['PATCH', `/v1/teams/${team.id}`, { name: 'Stolen' }],
      ['DELETE', `/v1/teams/${team.id}`],
      ['GET', `/v1/teams/${team.id}/members`],
      ['PUT', `/v1/teams/${team.id}/members/${user.id}`, { role: 'owner' }],
      ['PUT', `/v1/teams/${team.id}/members/${ownUser.id}`, { role: 'owner' }],
      ['DELETE', `/v1/teams/${team.id}/members/${user.id}`],
    ];
    await expectUnchanged(api.database, async () => {
      for (const [method, url, body] of routes) expectError(await api.call(method, url, b.key, body), 404, 'NOT_FOUND');
    });
    const listed = await walkPages(api, '/v1/organizations', b.key, 500);
    expect(listed.rows.map((row) => row.id)).not.toContain(organization.id);
  });
});

describe('authentication on organization routes', () => {
  it('refuses a missing, wrong, revoked or admin key with 401 on every route, and changes nothing', async () => {
    const organization = await seed.organization(a.key);
    const team = await seed.team(a.key, organization.id);
    const user = await seed.user(a.key);
    const revoked = await seed.revokedKey(a.key);
    await expectAuthRequired(api, [
      { method: 'POST', url: '/v1/organizations', body: { name: 'X', slug: 'x' } },
      { method: 'GET', url: '/v1/organizations' },
      { method: 'GET', url: `/v1/organizations/${organization.id}` },
      { method: 'PATCH', url: `/v1/organizations/${organization.id}`, body: { name: 'Y' } },
      { method: 'DELETE', url: `/v1/organizations/${organization.id}` },
      { method: 'POST', url: `/v1/organizations/${organization.id}/teams`, body: { name: 'T', slug: 't' } },
      { method: 'GET', url: `/v1/organizations/${organization.id}/teams` },
      { method: 'GET', url: `/v1/teams/${team.id}` },
      { method: 'PATCH', url: `/v1/teams/${team.id}`, body: { name: 'Y' } },
      { method: 'DELETE', url: `/v1/teams/${team.id}` },
      { method: 'GET', url: `/v1/teams/${team.id}/members` },
      { method: 'PUT', url: `/v1/teams/${team.id}/members/${user.id}`, body: { role: 'member' } },
      { method: 'DELETE', url: `/v1/teams/${team.id}/members/${user.id}` },
    ], a, revoked);
  });
});
