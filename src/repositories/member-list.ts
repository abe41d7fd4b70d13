import type { Kysely, Selectable } from 'kysely';
import type { DB } from '../db/schema.generated.js';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';

/** Tables of users' roles in a parent row of the same tenant, with that parent and its key column. */
const memberTables = {
  membership: { parent: 'team', key: 'team_id' },
  project_member: { parent: 'project', key: 'project_id' },
} as const;

export type MemberTable = keyof typeof memberTables;

/** A member as a listing shows it: the role and the user columns, joined in the same query. */
export type ListedMember = Pick<Selectable<DB['membership']>, 'user_id' | 'role' | 'created_at'>
  & Pick<Selectable<DB['app_user']>, 'username' | 'email'>;

/**
 * Putting, removing and listing the members of a team (membership) or a project (project_member):
 * the same queries over two tables. Kysely cannot type a query over a choice of tables, so they are
 * built on an untyped handle and their results typed by the table chosen. Callers validate input.
 */
export class MemberList<T extends MemberTable> {
  private readonly table: string;
  private readonly parent: string;
  private readonly key: string;

  constructor(private readonly trx: TenantTx, table: T) {
    this.table = table;
    ({ parent: this.parent, key: this.key } = memberTables[table]);
  }

  // An untyped handle on purpose: the table is chosen at run time (see the class comment).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private get db(): Kysely<any> {
    return this.trx;
  }

  /**
   * Adds the user or changes the role. Parent and user are selected under the tenant, so another
   * tenant's parent or user yields NOT_FOUND; the composite keys refuse it even without this.
   */
  async put(parentId: number, userId: number, role: string): Promise<Selectable<DB[T]>> {
    const { table, parent, key } = this;
    const row = await this.db.insertInto(table)
      .columns(['tenant_id', key, 'user_id', 'role'])
      .expression((eb) => eb.selectFrom(parent)
        .innerJoin('app_user', (join) => join.onRef('app_user.tenant_id', '=', `${parent}.tenant_id`))
        .select((inner) => [`${parent}.tenant_id`, `${parent}.id`, 'app_user.id', inner.val(role).as('role')])
        .where(`${parent}.tenant_id`, '=', tenantOf(this.trx))
        .where(`${parent}.id`, '=', parentId)
        .where('app_user.id', '=', userId))
      .onConflict((conflict) => conflict.columns(['tenant_id', key, 'user_id'])
        .doUpdateSet((eb) => ({ role: eb.ref('excluded.role') })))
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new StrataError('NOT_FOUND', `${parent} ${parentId} or user ${userId} does not exist`);
    return row as Selectable<DB[T]>;
  }

  async remove(parentId: number, userId: number): Promise<void> {
    const result = await this.db.deleteFrom(this.table)
      .where('tenant_id', '=', tenantOf(this.trx)).where(this.key, '=', parentId).where('user_id', '=', userId)
      .executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new StrataError('NOT_FOUND', `user ${userId} is not a member of ${this.parent} ${parentId}`);
  }

  /** only(): the member's user columns a listing shows, joined in the same query. */
  async list(parentId: number): Promise<ListedMember[]> {
    const { table } = this;
    return this.db.selectFrom(table)
      .innerJoin('app_user', (join) => join
        .onRef('app_user.tenant_id', '=', `${table}.tenant_id`).onRef('app_user.id', '=', `${table}.user_id`))
      .select([`${table}.user_id`, `${table}.role`, `${table}.created_at`, 'app_user.username', 'app_user.email'])
      .where(`${table}.tenant_id`, '=', tenantOf(this.trx)).where(`${table}.${this.key}`, '=', parentId)
      .orderBy(`${table}.user_id`)
      .execute();
  }
}
