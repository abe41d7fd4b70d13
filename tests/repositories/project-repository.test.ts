import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { OrganizationRepository } from '../../src/repositories/organization-repository.js';
import { ProjectRepository } from '../../src/repositories/project-repository.js';
import { migratedDatabase, type TestDatabase, constraintNamed } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { refusal } from '../helpers/refusal.js';
import { projectInput, projectListOptions, projectMemberInput, projectPatch } from '../../src/models/project.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

function asTenant<T>(tenantId: number, fn: (projects: ProjectRepository) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new ProjectRepository(trx)));
}

async function countRows(table: 'project' | 'project_member', tenantId: number): Promise<number> {
  const row = await database.admin.selectFrom(table).where('tenant_id', '=', tenantId)
    .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return row.n;
}

async function tenantWithProject(name = 'Tenant') {
  const tenant = await createTenant(database, name);
  const project = await asTenant(tenant.id, (projects) => projects.create({ name: 'Apollo', slug: 'apollo' }));
  return { tenant, project };
}

describe('ProjectRepository projects', () => {
  it('creates a project with status active and an empty description by default', async () => {
    const { tenant, project } = await tenantWithProject();
    expect(project).toMatchObject({ tenant_id: tenant.id, name: 'Apollo', slug: 'apollo', status: 'active', description: '', organization_id: null });
    expect(await asTenant(tenant.id, (projects) => projects.getById(project.id))).toEqual(project);
  });

  it('links a project to an organization of the same tenant and keeps it when the organization is deleted', async () => {
    const tenant = await createTenant(database);
    const organization = await withTenant(database, { tenantId: tenant.id }, (trx) => new OrganizationRepository(trx).create({ name: 'Acme', slug: 'acme' }));
    const project = await asTenant(tenant.id, (projects) => projects.create({ name: 'Linked', slug: 'linked', organization_id: organization.id }));
    expect(project.organization_id).toBe(organization.id);
    expect((await asTenant(tenant.id, (projects) => projects.list({ limit: 10, organizationId: organization.id }))).map((row) => row.id))
      .toEqual([project.id]);
    await withTenant(database, { tenantId: tenant.id }, (trx) => new OrganizationRepository(trx).delete(organization.id));
    expect(await asTenant(tenant.id, (projects) => projects.getById(project.id))).toMatchObject({ organization_id: null, tenant_id: tenant.id });
  });

  it('refuses an organization of another tenant (composite foreign key)', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const organization = await withTenant(database, { tenantId: a.id }, (trx) => new OrganizationRepository(trx).create({ name: 'Acme', slug: 'acme' }));
    await expect(asTenant(b.id, (projects) => projects.create({ name: 'Sneaky', slug: 'sneaky', organization_id: organization.id })))
      .rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION' });
    expect(await countRows('project', b.id)).toBe(0);
  });

  it('rejects a duplicate slug in the same tenant and allows it in another', async () => {
    const { tenant } = await tenantWithProject();
    await expect(asTenant(tenant.id, (projects) => projects.create({ name: 'Apollo 2', slug: 'apollo' })))
      .rejects.toMatchObject({ code: 'CONFLICT', details: [{ path: 'slug' }], cause: { constraint: constraintNamed('project_tenant_slug_key') } });
    expect(await countRows('project', tenant.id)).toBe(1);
    const other = await createTenant(database, 'Other');
    expect(await asTenant(other.id, (projects) => projects.create({ name: 'Apollo', slug: 'apollo' }))).toMatchObject({ tenant_id: other.id });
  });

  it('accepts only the statuses planned, active, paused and archived', async () => {
    const { tenant, project } = await tenantWithProject();
    expect(refusal(projectInput, { name: 'X', slug: 'x', status: 'done' })).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'status' }] });
    expect(refusal(projectPatch, { status: 'deleted' })).toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'status' }] });
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      update project set status = 'done' where id = ${project.id}`.execute(trx)))
      .rejects.toMatchObject({ code: 'CHECK_VIOLATION', details: [{ path: 'status' }], cause: { constraint: constraintNamed('project_status_known') } });
    for (const status of ['planned', 'active', 'paused', 'archived'] as const) {
      expect(await asTenant(tenant.id, (projects) => projects.update(project.id, { status }))).toMatchObject({ status });
    }
  });

  it('updates only the fields in the patch and rejects an empty one', async () => {
    const { tenant, project } = await tenantWithProject();
    // updated_at is the transaction's start: with both in the same millisecond, the bump would not show in a Date.
    await new Promise((resolve) => setTimeout(resolve, 2));
    const updated = await asTenant(tenant.id, (projects) => projects.update(project.id, { description: 'To the moon' }));
    expect(updated).toMatchObject({ id: project.id, name: 'Apollo', slug: 'apollo', description: 'To the moon' });
    expect(updated.updated_at.getTime()).toBeGreaterThan(project.updated_at.getTime());
    expect(refusal(projectPatch, {})).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('lists by status and pages by id without skipping or repeating', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (projects) => {
      const created = [];
      for (const [index, status] of (['active', 'paused', 'active', 'active'] as const).entries()) {
        created.push(await projects.create({ name: `P${index}`, slug: `p${index}`, status }));
      }
      const active = created.filter((project) => project.status === 'active').map((project) => project.id);
      const first = await projects.list({ limit: 2, status: 'active' });
      const rest = await projects.list({ limit: 2, status: 'active', afterId: first.at(-1)!.id });
      expect([...first, ...rest].map((project) => project.id)).toEqual(active);
      expect((await projects.list({ limit: 10, status: 'paused' })).map((project) => project.id)).toEqual([created[1]!.id]);
      expect(await projects.list({ limit: 10 })).toHaveLength(4);
      expect(refusal(projectListOptions, { limit: 1001 })).toMatchObject({ code: 'VALIDATION_FAILED' });
    });
  });

  it('deletes a project and its members, then reports NOT_FOUND', async () => {
    const { tenant, project } = await tenantWithProject();
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, async (projects) => {
      await projects.putMember(project.id, user.id, 'owner');
      await projects.delete(project.id);
      await expect(projects.getById(project.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(projects.delete(project.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
    expect([await countRows('project', tenant.id), await countRows('project_member', tenant.id)]).toEqual([0, 0]);
  });

  it('cannot see, list, change or delete another tenant\'s project', async () => {
    const { tenant, project } = await tenantWithProject('Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(b.id, async (projects) => {
      await expect(projects.getById(project.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await projects.list({ limit: 100 })).toEqual([]);
      expect(await projects.list({ limit: 100, status: 'active' })).toEqual([]);
    });
    await expect(asTenant(b.id, (projects) => projects.update(project.id, { status: 'archived' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (projects) => projects.delete(project.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await asTenant(tenant.id, (projects) => projects.getById(project.id))).toMatchObject({ status: 'active' });
  });
});

describe('ProjectRepository members', () => {
  it('putMember adds a member with the editor role by default and upserts the role', async () => {
    const { tenant, project } = await tenantWithProject();
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, async (projects) => {
      expect(await projects.putMember(project.id, user.id)).toMatchObject({ project_id: project.id, user_id: user.id, role: 'editor' });
      expect(await projects.putMember(project.id, user.id, 'viewer')).toMatchObject({ role: 'viewer' });
    });
    expect(await countRows('project_member', tenant.id)).toBe(1);
  });

  it('accepts only the roles owner, editor and viewer', async () => {
    const { tenant, project } = await tenantWithProject();
    const user = await createUser(database, tenant.id);
    expect(refusal(projectMemberInput, { projectId: project.id, userId: user.id, role: 'admin' }))
      .toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'role' }] });
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into project_member (tenant_id, project_id, user_id, role) values (${tenant.id}, ${project.id}, ${user.id}, 'admin')`.execute(trx)))
      .rejects.toMatchObject({ code: 'CHECK_VIOLATION', details: [{ path: 'role' }], cause: { constraint: constraintNamed('project_member_role_known') } });
  });

  it('refuses a member whose user belongs to another tenant, in the repository and in the schema', async () => {
    const { tenant, project } = await tenantWithProject('Alpha');
    const b = await createTenant(database, 'Beta');
    const outsider = await createUser(database, b.id);
    await expect(asTenant(tenant.id, (projects) => projects.putMember(project.id, outsider.id, 'viewer'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into project_member (tenant_id, project_id, user_id) values (${tenant.id}, ${project.id}, ${outsider.id})`.execute(trx)))
      .rejects.toMatchObject({ code: 'INTEGRITY_VIOLATION' });
    expect(await countRows('project_member', tenant.id)).toBe(0);
  });

  it('lists members with only the needed user columns, in one query', async () => {
    const { tenant, project } = await tenantWithProject();
    const first = await createUser(database, tenant.id, 'ann@x.io');
    const second = await createUser(database, tenant.id, 'bob@x.io');
    await asTenant(tenant.id, async (projects) => {
      await projects.putMember(project.id, second.id, 'viewer');
      await projects.putMember(project.id, first.id, 'owner');
      const { result, queries, statements } = await database.queries.measure(() => projects.listMembers(project.id));
      expect(queries).toBe(1);
      expect(statements[0]).not.toMatch(/\*/);
      expect(result).toEqual([
        { user_id: first.id, role: 'owner', username: 'ann', email: 'ann@x.io', created_at: expect.any(Date) },
        { user_id: second.id, role: 'viewer', username: 'bob', email: 'bob@x.io', created_at: expect.any(Date) },
      ]);
    });
  });

  it('removeMember removes the membership once, then reports NOT_FOUND', async () => {
    const { tenant, project } = await tenantWithProject();
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, async (projects) => {
      await projects.putMember(project.id, user.id, 'viewer');
      await projects.removeMember(project.id, user.id);
      await expect(projects.removeMember(project.id, user.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    });
    expect(await countRows('project_member', tenant.id)).toBe(0);
  });

  it('cannot list, add to, change or remove another tenant\'s project members', async () => {
    const { tenant, project } = await tenantWithProject('Alpha');
    const member = await createUser(database, tenant.id);
    await asTenant(tenant.id, (projects) => projects.putMember(project.id, member.id, 'viewer'));
    const b = await createTenant(database, 'Beta');
    const bUser = await createUser(database, b.id);
    expect(await asTenant(b.id, (projects) => projects.listMembers(project.id))).toEqual([]);
    await expect(asTenant(b.id, (projects) => projects.putMember(project.id, member.id, 'owner'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (projects) => projects.putMember(project.id, bUser.id, 'owner'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (projects) => projects.removeMember(project.id, member.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await database.admin.selectFrom('project_member').select(['tenant_id', 'role']).where('project_id', '=', project.id).execute())
      .toEqual([{ tenant_id: tenant.id, role: 'viewer' }]);
  });
});
