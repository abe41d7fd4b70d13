import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { OrganizationRepository } from '../../src/repositories/organization-repository.js';
import { ProjectRepository } from '../../src/repositories/project-repository.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

function asUsers<T>(tenantId: number, fn: (users: UserRepository) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new UserRepository(trx)));
}

/** A tenant with two users, so that a write aimed at one has a neighbour it must leave alone. */
async function twoUsers() {
  const tenant = await createTenant(database, 'Neighbours');
  const [first, second] = await asUsers(tenant.id, async (users) => [
    await users.create({ email: 'first@x.io', username: 'first', profile: { bio: 'first bio' }, settings: { theme: 'dark' } }),
    await users.create({ email: 'second@x.io', username: 'second', profile: { bio: 'second bio' }, settings: { theme: 'light' } }),
  ]);
  return { tenantId: tenant.id, first, second };
}

describe('UserRepository writes touch only the user named', () => {
  it('update changes the named user and leaves the tenant\'s other user as it was', async () => {
    const { tenantId, first, second } = await twoUsers();
    const updated = await asUsers(tenantId, (users) => users.update(second.id, { username: 'renamed' }));
    expect(updated).toMatchObject({ id: second.id, username: 'renamed', profile: { bio: 'second bio' } });
    expect(await asUsers(tenantId, (users) => users.getById(first.id))).toMatchObject({ username: 'first' });
  });

  it('delete removes the named user only', async () => {
    const { tenantId, first, second } = await twoUsers();
    await asUsers(tenantId, (users) => users.delete(second.id));
    expect((await asUsers(tenantId, (users) => users.list({ limit: 10 }))).map((user) => user.id)).toEqual([first.id]);
  });

  it('profiles and settings are read and written for the named user only', async () => {
    const { tenantId, first, second } = await twoUsers();
    expect(await asUsers(tenantId, (users) => users.getProfile(second.id))).toMatchObject({ user_id: second.id, bio: 'second bio' });
    await asUsers(tenantId, (users) => users.putProfile(second.id, { display_name: 'Second' }));
    expect(await asUsers(tenantId, (users) => users.getProfile(first.id))).toMatchObject({ bio: 'first bio', display_name: null });
    expect(await asUsers(tenantId, (users) => users.getSettings(second.id))).toEqual({ theme: 'light' });
  });

  it('update of a user whose profile row is gone returns an empty profile', async () => {
    const { tenantId, first } = await twoUsers();
    await database.admin.deleteFrom('profile').where('tenant_id', '=', tenantId).where('user_id', '=', first.id).execute();
    expect(await asUsers(tenantId, (users) => users.update(first.id, { is_active: false })))
      .toMatchObject({ id: first.id, is_active: false, profile: { display_name: null, bio: null, avatar_url: null } });
  });

  it('mergeSettings on an existing settings row locks and writes it: two statements, no insert', async () => {
    const { tenantId, first } = await twoUsers();
    await asUsers(tenantId, async (users) => {
      const { result, queries } = await database.queries.measure(() => users.mergeSettings(first.id, { lang: 'de' }));
      expect(result).toEqual({ theme: 'dark', lang: 'de' });
      expect(queries).toBe(2);
    });
  });
});

describe('UserRepository.search words', () => {
  it('reads at most eight words: a ninth that matches nothing does not hide the user', async () => {
    const tenant = await createTenant(database, 'Words');
    const user = await asUsers(tenant.id, (users) => users.create({ email: 'words@x.io', username: 'one two three four five six seven eight' }));
    const found = await asUsers(tenant.id, (users) => users.search('one two three four five six seven eight nomatch', 10));
    expect(found.map((row) => row.id)).toEqual([user.id]);
  });

  it('lower-cases the query as the index does: ß is not turned into ss', async () => {
    const tenant = await createTenant(database, 'Eszett');
    const user = await asUsers(tenant.id, (users) => users.create({ email: 'street@x.io', username: 'straße' }));
    expect((await asUsers(tenant.id, (users) => users.search('Straße', 10))).map((row) => row.id)).toEqual([user.id]);
  });
});

describe('ProjectRepository.list by organization', () => {
  it('lists only the projects of the organization asked for', async () => {
    const tenant = await createTenant(database, 'Filtered');
    await withTenant(database, { tenantId: tenant.id }, async (trx) => {
      const organization = await new OrganizationRepository(trx).create({ name: 'Acme', slug: 'acme' });
      const projects = new ProjectRepository(trx);
      const linked = await projects.create({ name: 'Linked', slug: 'linked', organization_id: organization.id });
      await projects.create({ name: 'Loose', slug: 'loose' });
      expect((await projects.list({ limit: 10, organizationId: organization.id })).map((row) => row.id)).toEqual([linked.id]);
    });
  });
});
