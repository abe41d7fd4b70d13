import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import type { ProjectInput, ProjectListOptions, ProjectMemberRole, ProjectPatch } from '../models/project.js';
import { MemberList } from './member-list.js';

function projectNotFound(projectId: number): StrataError {
  return new StrataError('NOT_FOUND', `project ${projectId} does not exist`);
}

/** Projects and their members, within one tenant. */
export class ProjectRepository {
  constructor(private readonly trx: TenantTx) {}

  private get tenantId(): number {
    return tenantOf(this.trx);
  }

  /** An organization of another tenant is refused by the composite key (INTEGRITY_VIOLATION). */
  async create(input: ProjectInput) {
    return this.trx.insertInto('project').values({ ...input, tenant_id: this.tenantId }).returningAll().executeTakeFirstOrThrow();
  }

  async getById(projectId: number) {
    const row = await this.trx.selectFrom('project').selectAll()
      .where('tenant_id', '=', this.tenantId).where('id', '=', projectId).executeTakeFirst();
    if (!row) throw projectNotFound(projectId);
    return row;
  }

  /** Keyset-paged by id; a status filter is served by the (tenant_id, status, id) index. */
  async list({ afterId, limit, status, organizationId }: ProjectListOptions) {
    let query = this.trx.selectFrom('project').selectAll().where('tenant_id', '=', this.tenantId).orderBy('id').limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    if (status !== undefined) query = query.where('status', '=', status);
    if (organizationId !== undefined) query = query.where('organization_id', '=', organizationId);
    return query.execute();
  }

  async update(projectId: number, patch: ProjectPatch) {
    const row = await this.trx.updateTable('project').set(patch)
      .where('tenant_id', '=', this.tenantId).where('id', '=', projectId).returningAll().executeTakeFirst();
    if (!row) throw projectNotFound(projectId);
    return row;
  }

  /** Members go with the project through the cascading key. */
  async delete(projectId: number): Promise<void> {
    const result = await this.trx.deleteFrom('project')
      .where('tenant_id', '=', this.tenantId).where('id', '=', projectId).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw projectNotFound(projectId);
  }

  /**
   * Adds the user to the project or changes the role. Project and user are selected under the tenant,
   * so another tenant's project or user yields NOT_FOUND; the composite keys refuse it even without this.
   */
  async putMember(projectId: number, userId: number, role: ProjectMemberRole = 'editor') {
    return new MemberList(this.trx, 'project_member').put(projectId, userId, role);
  }

  async removeMember(projectId: number, userId: number): Promise<void> {
    return new MemberList(this.trx, 'project_member').remove(projectId, userId);
  }

  async listMembers(projectId: number) {
    return new MemberList(this.trx, 'project_member').list(projectId);
  }
}
