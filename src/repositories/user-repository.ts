import { sql, type ExpressionBuilder, type InferResult } from 'kysely';
import type { DB } from '../db/schema.generated.js';
import { executePrepared } from '../db/prepared.js';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import { activeDaySpan, markCountsStale } from './active-user-counts.js';
import {
  applyMergePatch, type ActiveUserOptions, type ProfileInput, type Settings, type SettingsInput, type UserCreateInput,
  type UserListOptions, type UserPatch,
} from '../models/user.js';

// The generated `search` tsvector stays in the database: it is an index, not part of a user.
const userColumns = [
  'app_user.tenant_id', 'app_user.id', 'app_user.email', 'app_user.username', 'app_user.is_active',
  'app_user.created_at', 'app_user.updated_at',
] as const;
const profileFields = ['profile.display_name', 'profile.bio', 'profile.avatar_url'] as const;
const profileColumns = ['tenant_id', 'user_id', 'display_name', 'bio', 'avatar_url', 'updated_at'] as const;

// A search of more words than this is not a search for a user.
const maxSearchWords = 8;

interface ProfileFields {
  display_name: string | null;
  bio: string | null;
  avatar_url: string | null;
}

/** Nests the joined profile columns; a user without a profile row reads as one with an empty profile. */
function withProfile<T extends ProfileFields>(row: T) {
  const { display_name, bio, avatar_url, ...user } = row;
  return { ...user, profile: { display_name, bio, avatar_url } };
}

type ProfileRow = InferResult<ReturnType<UserRepository['profileQuery']>>[number];

function notFound(userId: number): StrataError {
  return new StrataError('NOT_FOUND', `user ${userId} does not exist`);
}

/**
 * Words of the query as prefix terms joined by AND. Only letters and digits survive, so nothing a
 * user types is ever read as tsquery syntax (operators, quotes, weights, phrase distances).
 */
function prefixQuery(q: string): string | undefined {
  const words = (q.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []).slice(0, maxSearchWords);
  return words.length === 0 ? undefined : words.map((word) => `${word}:*`).join(' & ');
}

export class UserRepository {
  constructor(private readonly trx: TenantTx) {}

  /** select_related('profile'): the user and the profile in one query, joined on the composite key. */
  private usersWithProfile() {
    return this.trx.selectFrom('app_user')
      .leftJoin('profile', (join) => join
        .onRef('profile.tenant_id', '=', 'app_user.tenant_id').onRef('profile.user_id', '=', 'app_user.id'))
      .select([...userColumns, ...profileFields])
      .where('app_user.tenant_id', '=', tenantOf(this.trx));
  }

  private byId(userId: number) {
    return (eb: ExpressionBuilder<DB, 'app_user'>) => eb.and([
      eb('app_user.tenant_id', '=', tenantOf(this.trx)),
      eb('app_user.id', '=', userId),
    ]);
  }

  /** Compared as the unique index on (tenant_id, lower(email)) compares, so that index serves it. */
  private emailIs(email: string) {
    return (eb: ExpressionBuilder<DB, 'app_user'>) => eb(eb.fn('lower', ['app_user.email']), '=', eb.fn('lower', [eb.val(email)]));
  }

  /** The seed's find_by_email: case-insensitive, as the unique index on lower(email) is. */
  async findByEmail(email: string) {
    const row = await this.usersWithProfile()
      .where(this.emailIs(email))
      .executeTakeFirst();
    return row && withProfile(row);
  }

  /** The seed's find_active_users, keyset-paged: served by the partial index on active users. */
  async findActiveUsers({ afterId, limit }: ActiveUserOptions) {
    return this.list({ afterId, limit, active: true });
  }

  async list({ afterId, limit, active, email }: UserListOptions) {
    let query = this.usersWithProfile().orderBy('app_user.id').limit(limit);
    if (afterId !== undefined) query = query.where('app_user.id', '>', afterId);
    if (active !== undefined) query = query.where('app_user.is_active', '=', active);
    if (email !== undefined) query = query.where(this.emailIs(email));
    const rows = await query.execute();
    return rows.map(withProfile);
  }

  async getById(userId: number) {
    const row = await this.usersWithProfile().where('app_user.id', '=', userId).executeTakeFirst();
    if (!row) throw notFound(userId);
    return withProfile(row);
  }

  /** Every user gets a profile and a settings row, so reads never branch on a missing one. */
  async create(input: UserCreateInput) {
    const { profile, settings, ...values } = input;
    const tenantId = tenantOf(this.trx);
    const user = await this.trx.insertInto('app_user').values({ ...values, tenant_id: tenantId })
      .returning(userColumns).executeTakeFirstOrThrow();
    const created = await this.trx.insertInto('profile')
      .values({ tenant_id: tenantId, user_id: user.id, ...profile })
      .returning(profileFields).executeTakeFirstOrThrow();
    await this.trx.insertInto('user_settings')
      .values({ tenant_id: tenantId, user_id: user.id, settings: settings ?? {} }).execute();
    return { ...user, profile: created };
  }

  /**
   * The update, then the profile: two statements. As one data-modifying CTE it was one round trip,
   * but a Citus worker (13.2) crashes on that CTE under row-level security, so the cluster and the
   * single server share this form.
   */
  async update(userId: number, patch: UserPatch) {
    const user = await this.trx.updateTable('app_user').set(patch).where(this.byId(userId))
      .returning(userColumns).executeTakeFirst();
    if (!user) throw notFound(userId);
    const profile = await this.trx.selectFrom('profile').select(profileFields)
      .where('profile.tenant_id', '=', user.tenant_id).where('profile.user_id', '=', user.id).executeTakeFirst();
    return { ...user, profile: profile ?? { display_name: null, bio: null, avatar_url: null } };
  }

  /**
   * Profile, settings, memberships and activity go with the user through the cascading keys; the
   * stored daily active users of the days their active days counted in are marked stale.
   */
  async delete(userId: number): Promise<void> {
    const tenantId = tenantOf(this.trx);
    const activeDays = await activeDaySpan(this.trx, tenantId, userId);
    const result = await this.trx.deleteFrom('app_user').where(this.byId(userId)).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFound(userId);
    if (activeDays) await markCountsStale(this.trx, new Map([[tenantId, activeDays]]));
  }

  /** Full-text search on username and email, every word a prefix, best matches first. */
  async search(q: string, limit: number) {
    const query = prefixQuery(q);
    if (query === undefined) return [];
    const tsquery = sql`to_tsquery('simple', ${query})`;
    const rows = await this.usersWithProfile()
      .where(sql<boolean>`app_user.search @@ ${tsquery}`)
      .orderBy(sql`ts_rank(app_user.search, ${tsquery})`, 'desc')
      .orderBy('app_user.id')
      .limit(limit)
      .execute();
    return rows.map(withProfile);
  }

  async getProfile(userId: number) {
    const row = await this.trx.selectFrom('app_user')
      .leftJoin('profile', (join) => join
        .onRef('profile.tenant_id', '=', 'app_user.tenant_id').onRef('profile.user_id', '=', 'app_user.id'))
      .select(['app_user.tenant_id', 'app_user.id as user_id', ...profileFields, 'profile.updated_at'])
      .where(this.byId(userId))
      .executeTakeFirst();
    if (!row) throw notFound(userId);
    return row;
  }

  /**
   * Replaces the whole profile (fields left out become null), creating it when missing. The insert
   * selects from app_user, so a user the tenant cannot see yields no row instead of a foreign-key error.
   */
  async putProfile(userId: number, input: ProfileInput) {
    const { display_name = null, bio = null, avatar_url = null } = input;
    const row = await this.trx.insertInto('profile')
      .columns(['tenant_id', 'user_id', 'display_name', 'bio', 'avatar_url'])
      .expression((eb) => eb.selectFrom('app_user')
        .select([
          'app_user.tenant_id', 'app_user.id',
          sql<string | null>`${display_name}::text`.as('display_name'),
          sql<string | null>`${bio}::text`.as('bio'),
          sql<string | null>`${avatar_url}::text`.as('avatar_url'),
        ])
        .where(this.byId(userId)))
      .onConflict((conflict) => conflict.columns(['tenant_id', 'user_id']).doUpdateSet((eb) => ({
        display_name: eb.ref('excluded.display_name'),
        bio: eb.ref('excluded.bio'),
        avatar_url: eb.ref('excluded.avatar_url'),
      })))
      .returning(profileColumns)
      .executeTakeFirst();
    if (!row) throw notFound(userId);
    return row;
  }

  async getSettings(userId: number): Promise<Settings> {
    const row = await this.trx.selectFrom('app_user')
      .leftJoin('user_settings as s', (join) => join
        .onRef('s.tenant_id', '=', 'app_user.tenant_id').onRef('s.user_id', '=', 'app_user.id'))
      .select('s.settings')
      .where(this.byId(userId))
      .executeTakeFirst();
    if (!row) throw notFound(userId);
    return (row.settings ?? {}) as Settings;
  }

  /**
   * Applies a JSON merge patch (null removes a key). The row is locked for the read-merge-write, so
   * concurrent merges of different keys never lose one another's changes.
   */
  async mergeSettings(userId: number, changes: SettingsInput): Promise<Settings> {
    let current = await this.lockSettings(userId);
    if (!current) {
      await this.trx.insertInto('user_settings')
        .columns(['tenant_id', 'user_id'])
        .expression((eb) => eb.selectFrom('app_user').select(['app_user.tenant_id', 'app_user.id'])
          .where(this.byId(userId)))
        .onConflict((conflict) => conflict.columns(['tenant_id', 'user_id']).doNothing())
        .execute();
      current = await this.lockSettings(userId);
      if (!current) throw notFound(userId);
    }
    const merged = applyMergePatch(current.settings as Settings, changes);
    await this.trx.updateTable('user_settings').set({ settings: merged })
      .where('tenant_id', '=', tenantOf(this.trx)).where('user_id', '=', userId).execute();
    return merged;
  }

  private lockSettings(userId: number) {
    return this.trx.selectFrom('user_settings').select('settings')
      .where('tenant_id', '=', tenantOf(this.trx)).where('user_id', '=', userId)
      .forUpdate().executeTakeFirst();
  }

  /**
   * The seed's get_user_profile: user, profile and settings in one query, inside a tenant
   * transaction. The profile cache runs the same statement through a TenantRead instead.
   */
  async getUserProfile(userId: number) {
    // Prepared: planned once per connection, not per call.
    const [row] = await executePrepared(this.trx, this.profileQuery(userId));
    return UserRepository.toUserProfile(row, userId);
  }

  /** getUserProfile's statement, for a TenantRead (the profile cache reads it in one round trip). */
  profileQuery(userId: number) {
    return this.usersWithProfile()
      .leftJoin('user_settings as s', (join) => join
        .onRef('s.tenant_id', '=', 'app_user.tenant_id').onRef('s.user_id', '=', 'app_user.id'))
      .select('s.settings')
      .where('app_user.id', '=', userId);
  }

  /** A profileQuery row as getUserProfile returns it; no row is the user's NOT_FOUND. */
  static toUserProfile(row: ProfileRow | undefined, userId: number) {
    if (!row) throw notFound(userId);
    const { settings, ...user } = row;
    return { ...withProfile(user), settings: (settings ?? {}) as Settings };
  }

  /** values('is_active').annotate(count=Count('id')): one grouped query. */
  async countByActive() {
    return this.trx.selectFrom('app_user')
      .select((eb) => ['is_active', eb.fn.countAll<number>().as('count')])
      .where('tenant_id', '=', tenantOf(this.trx))
      .groupBy('is_active')
      .orderBy('is_active', 'desc')
      .execute();
  }
}
