import { jsonArrayFrom } from 'kysely/helpers/postgres';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import type {
  MembershipRole, OrganizationInput, OrganizationListOptions, OrganizationPatch, TeamInput, TeamPatch,
} from '../models/organization.js';
import { MemberList } from './member-list.js';

/** Organizations with their teams and the teams' memberships: one aggregate, one tenant. */
export class OrganizationRepository {
  constructor(private readonly trx: TenantTx) {}

  private get tenantId(): number {
    return tenantOf(this.trx);
  }

  async create(input: OrganizationInput) {
    return this.trx.insertInto('organization').values({ ...input, tenant_id: this.tenantId })
      .returningAll().executeTakeFirstOrThrow();
  }

  async list({ afterId, limit }: OrganizationListOptions) {
    let query = this.trx.selectFrom('organization').selectAll()
      .where('tenant_id', '=', this.tenantId).orderBy('id').limit(limit);
    if (afterId !== undefined) query = query.where('id', '>', afterId);
    return query.execute();
  }

  async getById(organizationId: number) {
    const row = await this.trx.selectFrom('organization').selectAll()
      .where('tenant_id', '=', this.tenantId).where('id', '=', organizationId).executeTakeFirst();
    if (!row) throw new StrataError('NOT_FOUND', `organization ${organizationId} does not exist`);
    return row;
  }

  async update(organizationId: number, patch: OrganizationPatch) {
    const row = await this.trx.updateTable('organization').set(patch)
      .where('tenant_id', '=', this.tenantId).where('id', '=', organizationId).returningAll().executeTakeFirst();
    if (!row) throw new StrataError('NOT_FOUND', `organization ${organizationId} does not exist`);
    return row;
  }

  /** Teams and memberships go with it through the cascading keys; projects keep existing, unlinked. */
  async delete(organizationId: number): Promise<void> {
    const result = await this.trx.deleteFrom('organization')
      .where('tenant_id', '=', this.tenantId).where('id', '=', organizationId).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new StrataError('NOT_FOUND', `organization ${organizationId} does not exist`);
  }

  /**
   * The insert selects the organization, so one the tenant cannot see yields no row (NOT_FOUND)
   * rather than a foreign-key error that would confirm the id exists elsewhere.
   */
  async createTeam(organizationId: number, { name, slug }: TeamInput) {
    const row = await this.trx.insertInto('team')
      .columns(['tenant_id', 'organization_id', 'name', 'slug'])
      .expression((eb) => eb.selectFrom('organization')
        .select((inner) => ['organization.tenant_id', 'organization.id', inner.val(name).as('name'), inner.val(slug).as('slug')])
        .where('organization.tenant_id', '=', this.tenantId).where('organization.id', '=', organizationId))
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new StrataError('NOT_FOUND', `organization ${organizationId} does not exist`);
    return row;
  }

  async listTeams(organizationId: number) {
    return this.trx.selectFrom('team').selectAll()
      .where('tenant_id', '=', this.tenantId).where('organization_id', '=', organizationId).orderBy('id').execute();
  }

  async getTeam(teamId: number) {
    const row = await this.trx.selectFrom('team').selectAll()
      .where('tenant_id', '=', this.tenantId).where('id', '=', teamId).executeTakeFirst();
    if (!row) throw new StrataError('NOT_FOUND', `team ${teamId} does not exist`);
    return row;
  }

  async updateTeam(teamId: number, patch: TeamPatch) {
    const row = await this.trx.updateTable('team').set(patch)
      .where('tenant_id', '=', this.tenantId).where('id', '=', teamId).returningAll().executeTakeFirst();
    if (!row) throw new StrataError('NOT_FOUND', `team ${teamId} does not exist`);
    return row;
  }

  async deleteTeam(teamId: number): Promise<void> {
    const result = await this.trx.deleteFrom('team')
      .where('tenant_id', '=', this.tenantId).where('id', '=', teamId).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new StrataError('NOT_FOUND', `team ${teamId} does not exist`);
  }

  /**
   * Adds the user to the team or changes the role. Team and user are selected under the tenant, so
   * another tenant's team or user yields NOT_FOUND; the composite keys refuse it even without this.
   */
  async putMember(teamId: number, userId: number, role: MembershipRole) {
    return new MemberList(this.trx, 'membership').put(teamId, userId, role);
  }

  async removeMember(teamId: number, userId: number): Promise<void> {
    return new MemberList(this.trx, 'membership').remove(teamId, userId);
  }

  async listMembers(teamId: number) {
    return new MemberList(this.trx, 'membership').list(teamId);
  }

  /** prefetch_related: every team of the organization with its members, aggregated in one query. */
  async teamsWithMembers(organizationId: number) {
    return this.trx.selectFrom('team')
      .select((eb) => [
        'team.tenant_id', 'team.id', 'team.organization_id', 'team.name', 'team.slug', 'team.created_at',
        jsonArrayFrom(eb.selectFrom('membership')
          .innerJoin('app_user', (join) => join
            .onRef('app_user.tenant_id', '=', 'membership.tenant_id').onRef('app_user.id', '=', 'membership.user_id'))
          .select(['membership.user_id', 'membership.role', 'app_user.username', 'app_user.email'])
          .whereRef('membership.tenant_id', '=', 'team.tenant_id').whereRef('membership.team_id', '=', 'team.id')
          .orderBy('membership.user_id')).as('members'),
      ])
      .where('team.tenant_id', '=', this.tenantId).where('team.organization_id', '=', organizationId)
      .orderBy('team.id')
      .execute();
  }

  /** values('role').annotate(count=Count('*')) over the organization's teams: one grouped query. */
  async memberCountsByRole(organizationId: number) {
    return this.trx.selectFrom('membership')
      .innerJoin('team', (join) => join
        .onRef('team.tenant_id', '=', 'membership.tenant_id').onRef('team.id', '=', 'membership.team_id'))
      .select((eb) => ['membership.role', eb.fn.countAll<number>().as('count')])
      .where('membership.tenant_id', '=', this.tenantId).where('team.organization_id', '=', organizationId)
      .groupBy('membership.role')
      .orderBy('membership.role')
      .execute();
  }
}
