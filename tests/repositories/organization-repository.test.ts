import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { OrganizationRepository } from '../../src/repositories/organization-repository.js';
import { migratedDatabase, type TestDatabase, constraintNamed } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { refusal } from '../helpers/refusal.js';
import { parseInput } from '../../src/models/validation.js';
import { memberInput, organizationInput, organizationListOptions, organizationPatch } from '../../src/models/organization.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

function asTenant<T>(tenantId: number, fn: (organizations: OrganizationRepository) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new OrganizationRepository(trx)));
}

async function countRows(table: 'organization' | 'team' | 'membership', tenantId: number): Promise<number> {
  const row = await database.admin.selectFrom(table).where('tenant_id', '=', tenantId)
    .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return row.n;
}

/** A tenant with one organization and one team in it. */
async function tenantWithTeam(name = 'Tenant') {
  const tenant = await createTenant(database, name);
  const { organization, team } = await asTenant(tenant.id, async (organizations) => {
    const organization = await organizations.create({ name: 'Acme', slug: 'acme' });
    const team = await organizations.createTeam(organization.id, { name: 'Core', slug: 'core' });
    return { organization, team };
  });
  return { tenant, organization, team };
}

describe('OrganizationRepository organizations', () => {
  it('creates, reads, renames and deletes an organization', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (organizations) => {
      const created = await organizations.create(parseInput(organizationInput, { name: '  Acme Inc  ', slug: 'acme' }));
      expect(created).toMatchObject({ tenant_id: tenant.id, name: 'Acme Inc', slug: 'acme' });
      expect(await organizations.getById(created.id)).toEqual(created);
      expect(await organizations.update(created.id, { name: 'Acme Corp' })).toMatchObject({ id: created.id, name: 'Acme Corp', slug: 'acme' });
      await organizations.delete(created.id);
      await expect(organizations.getById(created.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  it('rejects a duplicate slug in the same tenant', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, (organizations) => organizations.create({ name: 'One', slug: 'dup' }));
    await expect(asTenant(tenant.id, (organizations) => organizations.create({ name: 'Two', slug: 'dup' })))
      .rejects.toMatchObject({ code: 'CONFLICT', details: [{ path: 'slug' }], cause: { constraint: constraintNamed('organization_tenant_slug_key') } });
    expect(await countRows('organization', tenant.id)).toBe(1);
  });

  it('allows the same slug in another tenant', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(a.id, (organizations) => organizations.create({ name: 'Shared', slug: 'shared' }));
    expect(await asTenant(b.id, (organizations) => organizations.create({ name: 'Shared', slug: 'shared' }))).toMatchObject({ tenant_id: b.id });
  });

  it('rejects an invalid slug, a blank name and an empty patch', async () => {
    const tenant = await createTenant(database);
    expect(tenant.id).toBeGreaterThan(0);
    expect(refusal(organizationInput, { name: ' ', slug: 'Not A Slug' }))
      .toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'name' }, { path: 'slug' }] });
    expect(refusal(organizationPatch, {})).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('pages through organizations by id', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (organizations) => {
      const created = [];
      for (const slug of ['o1', 'o2', 'o3']) created.push(await organizations.create({ name: slug, slug }));
      const first = await organizations.list({ limit: 2 });
      const rest = await organizations.list({ limit: 2, afterId: first.at(-1)!.id });
      expect([...first, ...rest].map((row) => row.id)).toEqual(created.map((row) => row.id));
      expect(refusal(organizationListOptions, { limit: 0 })).toMatchObject({ code: 'VALIDATION_FAILED' });
    });
  });

  it('deleting an organization removes its teams and their memberships', async () => {
    const { tenant, organization, team } = await tenantWithTeam();
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, async (organizations) => {
      await organizations.putMember(team.id, user.id, 'member');
      await organizations.delete(organization.id);
    });
    expect([await countRows('organization', tenant.id), await countRows('team', tenant.id), await countRows('membership', tenant.id)])
      .toEqual([0, 0, 0]);
  });

  it('cannot see, list, change or delete another tenant\'s organization', async () => {
    const { organization } = await tenantWithTeam('Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(b.id, async (organizations) => {
      await expect(organizations.getById(organization.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await organizations.list({ limit: 100 })).toEqual([]);
    });
    await expect(asTenant(b.id, (organizations) => organizations.update(organization.id, { name: 'Taken' })))
      .rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (organizations) => organizations.delete(organization.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await database.admin.selectFrom('organization').select('name').where('id', '=', organization.id).executeTakeFirst())
      .toEqual({ name: 'Acme' });
  });
});

describe('OrganizationRepository teams', () => {
  it('creates teams in an organization, lists them, renames and deletes one', async () => {
    const { tenant, organization, team } = await tenantWithTeam();
    await asTenant(tenant.id, async (organizations) => {
      const second = await organizations.createTeam(organization.id, { name: 'Ops', slug: 'ops' });
      expect((await organizations.listTeams(organization.id)).map((row) => row.slug)).toEqual(['core', 'ops']);
      expect(await organizations.updateTeam(second.id, { name: 'Operations' })).toMatchObject({ name: 'Operations', slug: 'ops' });
      expect(await organizations.getTeam(team.id)).toMatchObject({ organization_id: organization.id, slug: 'core' });
      await organizations.deleteTeam(second.id);
      expect((await organizations.listTeams(organization.id)).map((row) => row.id)).toEqual([team.id]);
      await expect(organizations.deleteTeam(second.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
  });

  it('rejects a team slug already used in the same tenant, even under another organization', async () => {
    const { tenant } = await tenantWithTeam();
    await expect(asTenant(tenant.id, async (organizations) => {
      const other = await organizations.create({ name: 'Other', slug: 'other' });
      return organizations.createTeam(other.id, { name: 'Core again', slug: 'core' });
    })).rejects.toMatchObject({ code: 'CONFLICT', details: [{ path: 'slug' }], cause: { constraint: constraintNamed('team_tenant_slug_key') } });
    expect(await countRows('team', tenant.id)).toBe(1);
  });

  it('refuses a team in an organization that does not exist or belongs to another tenant', async () => {
    const { organization } = await tenantWithTeam('Alpha');
    const b = await createTenant(database, 'Beta');
    await expect(asTenant(b.id, (organizations) => organizations.createTeam(organization.id, { name: 'Trojan', slug: 'trojan' })))
      .rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await countRows('team', b.id)).toBe(0);
  });

  it('cannot see, list, change or delete another tenant\'s team', async () => {
    const { organization, team } = await tenantWithTeam('Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(b.id, async (organizations) => {
      expect(await organizations.listTeams(organization.id)).toEqual([]);
      await expect(organizations.getTeam(team.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
    await expect(asTenant(b.id, (organizations) => organizations.updateTeam(team.id, { slug: 'mine' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (organizations) => organizations.deleteTeam(team.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await database.admin.selectFrom('team').select('slug').where('id', '=', team.id).executeTakeFirst()).toEqual({ slug: 'core' });
  });
});

describe('OrganizationRepository memberships', () => {
  it('putMember adds a member and, called again, changes the role of the same single row', async () => {
    const { tenant, team } = await tenantWithTeam();
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, async (organizations) => {
      expect(await organizations.putMember(team.id, user.id, 'viewer')).toMatchObject({ team_id: team.id, user_id: user.id, role: 'viewer' });
      expect(await organizations.putMember(team.id, user.id, 'admin')).toMatchObject({ role: 'admin' });
    });
    expect(await countRows('membership', tenant.id)).toBe(1);
  });

  it('refuses a member whose user belongs to another tenant', async () => {
    const { tenant, team } = await tenantWithTeam('Alpha');
    const b = await createTenant(database, 'Beta');
    const outsider = await createUser(database, b.id);
    await expect(asTenant(tenant.id, (organizations) => organizations.putMember(team.id, outsider.id, 'member')))
      .rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await countRows('membership', tenant.id)).toBe(0);
  });

  it('the composite foreign key itself refuses a raw membership pointing at another tenant\'s user', async () => {
    const { tenant, team } = await tenantWithTeam('Alpha');
    const b = await createTenant(database, 'Beta');
    const outsider = await createUser(database, b.id);
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into membership (tenant_id, team_id, user_id) values (${tenant.id}, ${team.id}, ${outsider.id})`.execute(trx)))
      .rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION' });
  });

  it('accepts only the roles owner, admin, member and viewer', async () => {
    const { tenant, team } = await tenantWithTeam();
    const user = await createUser(database, tenant.id);
    expect(refusal(memberInput, { teamId: team.id, userId: user.id, role: 'god' }))
      .toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'role' }] });
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into membership (tenant_id, team_id, user_id, role) values (${tenant.id}, ${team.id}, ${user.id}, 'god')`.execute(trx)))
      .rejects.toMatchObject({ code: 'CHECK_VIOLATION', details: [{ path: 'role' }], cause: { constraint: constraintNamed('membership_role_known') } });
    for (const role of ['owner', 'admin', 'member', 'viewer'] as const) {
      expect(await asTenant(tenant.id, (organizations) => organizations.putMember(team.id, user.id, role))).toMatchObject({ role });
    }
  });

  it('removeMember removes the membership once, then reports NOT_FOUND', async () => {
    const { tenant, team } = await tenantWithTeam();
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, async (organizations) => {
      await organizations.putMember(team.id, user.id, 'member');
      await organizations.removeMember(team.id, user.id);
      await expect(organizations.removeMember(team.id, user.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
    expect(await countRows('membership', tenant.id)).toBe(0);
  });

  it('listMembers joins only the needed user columns in the same query', async () => {
    const { tenant, team } = await tenantWithTeam();
    const first = await createUser(database, tenant.id, 'first@x.io');
    const second = await createUser(database, tenant.id, 'second@x.io');
    await asTenant(tenant.id, async (organizations) => {
      await organizations.putMember(team.id, second.id, 'admin');
      await organizations.putMember(team.id, first.id, 'member');
      const { result, queries, statements } = await database.queries.measure(() => organizations.listMembers(team.id));
      expect(queries).toBe(1);
      expect(statements[0]).not.toMatch(/\*/);
      expect(result).toEqual([
        { user_id: first.id, role: 'member', username: 'first', email: 'first@x.io', created_at: expect.any(Date) },
        { user_id: second.id, role: 'admin', username: 'second', email: 'second@x.io', created_at: expect.any(Date) },
      ]);
    });
  });

  it('teamsWithMembers loads every team of an organization with its members in one query', async () => {
    const { tenant, organization, team } = await tenantWithTeam();
    const user = await createUser(database, tenant.id, 'member@x.io');
    await asTenant(tenant.id, async (organizations) => {
      const empty = await organizations.createTeam(organization.id, { name: 'Empty', slug: 'empty' });
      await organizations.putMember(team.id, user.id, 'owner');
      const { result, queries } = await database.queries.measure(() => organizations.teamsWithMembers(organization.id));
      expect(queries).toBe(1);
      expect(result).toEqual([
        expect.objectContaining({ id: team.id, slug: 'core', members: [{ user_id: user.id, role: 'owner', username: 'member', email: 'member@x.io' }] }),
        expect.objectContaining({ id: empty.id, slug: 'empty', members: [] }),
      ]);
    });
  });

  it('memberCountsByRole counts an organization\'s memberships per role in one grouped query', async () => {
    const { tenant, organization, team } = await tenantWithTeam();
    const users = [await createUser(database, tenant.id), await createUser(database, tenant.id), await createUser(database, tenant.id)];
    await asTenant(tenant.id, async (organizations) => {
      const other = await organizations.create({ name: 'Other', slug: 'other' });
      const otherTeam = await organizations.createTeam(other.id, { name: 'Elsewhere', slug: 'elsewhere' });
      await organizations.putMember(otherTeam.id, users[0]!.id, 'owner');
      await organizations.putMember(team.id, users[0]!.id, 'admin');
      await organizations.putMember(team.id, users[1]!.id, 'member');
      await organizations.putMember(team.id, users[2]!.id, 'member');
      const { result, queries } = await database.queries.measure(() => organizations.memberCountsByRole(organization.id));
      expect(queries).toBe(1);
      expect(result).toEqual([{ role: 'admin', count: 1 }, { role: 'member', count: 2 }]);
    });
  });

  it('cannot list, add to, change or remove another tenant\'s memberships', async () => {
    const { tenant, organization, team } = await tenantWithTeam('Alpha');
    const member = await createUser(database, tenant.id);
    await asTenant(tenant.id, (organizations) => organizations.putMember(team.id, member.id, 'member'));
    const b = await createTenant(database, 'Beta');
    const bUser = await createUser(database, b.id);
    await asTenant(b.id, async (organizations) => {
      expect(await organizations.listMembers(team.id)).toEqual([]);
      expect(await organizations.teamsWithMembers(organization.id)).toEqual([]);
      expect(await organizations.memberCountsByRole(organization.id)).toEqual([]);
    });
    await expect(asTenant(b.id, (organizations) => organizations.putMember(team.id, member.id, 'owner'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (organizations) => organizations.putMember(team.id, bUser.id, 'owner'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (organizations) => organizations.removeMember(team.id, member.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await database.admin.selectFrom('membership').select(['tenant_id', 'role']).where('team_id', '=', team.id).execute())
      .toEqual([{ tenant_id: tenant.id, role: 'member' }]);
  });

  it('a user\'s deletion removes the user\'s memberships', async () => {
    const { tenant, team } = await tenantWithTeam();
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, (organizations) => organizations.putMember(team.id, user.id, 'member'));
    await withTenant(database, { tenantId: tenant.id }, (trx) => trx.deleteFrom('app_user').where('id', '=', user.id).execute());
    expect(await countRows('membership', tenant.id)).toBe(0);
  });
});
