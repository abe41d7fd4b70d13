import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant, type TenantTx } from '../../src/db/tenant.js';
import { OrganizationRepository } from '../../src/repositories/organization-repository.js';
import { ProjectRepository } from '../../src/repositories/project-repository.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';

let database: TestDatabase;
let tenantId: number;
let userId: number;
const missing = 987_654_321;

beforeAll(async () => {
  database = await migratedDatabase();
  tenantId = (await createTenant(database, 'Messages')).id;
  userId = (await createUser(database, tenantId)).id;
});

function asTenant<T>(fn: (trx: TenantTx) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, fn);
}

/** What the call rejects with, as code and message. */
async function refusedWith(call: Promise<unknown>): Promise<{ code: string; message: string }> {
  const error = await call.then(() => undefined, (reason: unknown) => reason as { code: string; message: string });
  expect(error, 'the call should have been refused').toBeDefined();
  return { code: error!.code, message: error!.message };
}

describe('NOT_FOUND names the row that is missing', () => {
  it('for an organization read, renamed, deleted or given a team', async () => {
    const organizations = (trx: TenantTx) => new OrganizationRepository(trx);
    const expected = { code: 'NOT_FOUND', message: `organization ${missing} does not exist` };
    expect(await refusedWith(asTenant((trx) => organizations(trx).getById(missing)))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => organizations(trx).update(missing, { name: 'Renamed' })))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => organizations(trx).delete(missing)))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => organizations(trx).createTeam(missing, { name: 'Team', slug: 'team' })))).toEqual(expected);
  });

  it('for a team read, renamed or deleted', async () => {
    const organizations = (trx: TenantTx) => new OrganizationRepository(trx);
    const expected = { code: 'NOT_FOUND', message: `team ${missing} does not exist` };
    expect(await refusedWith(asTenant((trx) => organizations(trx).getTeam(missing)))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => organizations(trx).updateTeam(missing, { name: 'Renamed' })))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => organizations(trx).deleteTeam(missing)))).toEqual(expected);
  });

  it('for a member put into a missing team, and a user removed from a team it is not in', async () => {
    const organization = await asTenant((trx) => new OrganizationRepository(trx).create({ name: 'Org', slug: 'org-messages' }));
    const team = await asTenant((trx) => new OrganizationRepository(trx).createTeam(organization.id, { name: 'Team', slug: 'team-messages' }));
    expect(await refusedWith(asTenant((trx) => new OrganizationRepository(trx).putMember(missing, userId, 'member'))))
      .toEqual({ code: 'NOT_FOUND', message: `team ${missing} or user ${userId} does not exist` });
    expect(await refusedWith(asTenant((trx) => new OrganizationRepository(trx).removeMember(team.id, userId))))
      .toEqual({ code: 'NOT_FOUND', message: `user ${userId} is not a member of team ${team.id}` });
  });

  it('for a project read, changed, deleted or given a member', async () => {
    const projects = (trx: TenantTx) => new ProjectRepository(trx);
    const expected = { code: 'NOT_FOUND', message: `project ${missing} does not exist` };
    expect(await refusedWith(asTenant((trx) => projects(trx).getById(missing)))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => projects(trx).update(missing, { name: 'Renamed' })))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => projects(trx).delete(missing)))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => projects(trx).putMember(missing, userId))))
      .toEqual({ code: 'NOT_FOUND', message: `project ${missing} or user ${userId} does not exist` });
  });

  it('for a user read, changed, deleted or given a profile or settings', async () => {
    const users = (trx: TenantTx) => new UserRepository(trx);
    const expected = { code: 'NOT_FOUND', message: `user ${missing} does not exist` };
    expect(await refusedWith(asTenant((trx) => users(trx).getById(missing)))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => users(trx).update(missing, { username: 'renamed' })))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => users(trx).delete(missing)))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => users(trx).putProfile(missing, { bio: 'x' })))).toEqual(expected);
    expect(await refusedWith(asTenant((trx) => users(trx).mergeSettings(missing, { theme: 'dark' })))).toEqual(expected);
  });

  it('for another tenant\'s rows, word for word as for rows that do not exist', async () => {
    const other = (await createTenant(database, 'Other')).id;
    const organization = await asTenant((trx) => new OrganizationRepository(trx).create({ name: 'Mine', slug: 'org-mine' }));
    const project = await asTenant((trx) => new ProjectRepository(trx).create({ name: 'Mine', slug: 'project-mine' }));
    const asOther = <T>(fn: (trx: TenantTx) => Promise<T>) => withTenant(database, { tenantId: other }, fn);
    expect(await refusedWith(asOther((trx) => new OrganizationRepository(trx).getById(organization.id))))
      .toEqual({ code: 'NOT_FOUND', message: `organization ${organization.id} does not exist` });
    expect(await refusedWith(asOther((trx) => new ProjectRepository(trx).getById(project.id))))
      .toEqual({ code: 'NOT_FOUND', message: `project ${project.id} does not exist` });
    expect(await refusedWith(asOther((trx) => new UserRepository(trx).getById(userId))))
      .toEqual({ code: 'NOT_FOUND', message: `user ${userId} does not exist` });
  });
});
