import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant, type TenantTx } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { migratedDatabase, type TestDatabase, constraintNamed } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { refusal } from '../helpers/refusal.js';
import { activeUserOptions, settingsObject, userCreateInput, userListOptions, userPatch } from '../../src/models/user.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

function asTenant<T>(tenantId: number, fn: (users: UserRepository, trx: TenantTx) => Promise<T>): Promise<T> {
  return withTenant(database, { tenantId }, (trx) => fn(new UserRepository(trx), trx));
}

async function countRows(table: 'app_user' | 'profile' | 'user_settings', tenantId: number): Promise<number> {
  const row = await database.admin.selectFrom(table).where('tenant_id', '=', tenantId)
    .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  return row.n;
}

async function userRow(tenantId: number, id: number) {
  return database.admin.selectFrom('app_user').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
}

describe('UserRepository.create', () => {
  it('creates the user, its profile and an empty settings row, and returns the user with the profile', async () => {
    const tenant = await createTenant(database);
    const user = await asTenant(tenant.id, (users) => users.create({
      email: 'Ada@Example.com', username: 'ada', profile: { display_name: 'Ada Lovelace', bio: 'Analyst' },
    }));
    expect(user).toMatchObject({
      tenant_id: tenant.id, email: 'Ada@Example.com', username: 'ada', is_active: true,
      profile: { display_name: 'Ada Lovelace', bio: 'Analyst', avatar_url: null },
    });
    const settings = await database.admin.selectFrom('user_settings').select('settings')
      .where('tenant_id', '=', tenant.id).where('user_id', '=', user.id).executeTakeFirstOrThrow();
    expect(settings.settings).toEqual({});
  });

  it('creates an empty profile row when no profile is given, so every user has one', async () => {
    const tenant = await createTenant(database);
    const user = await asTenant(tenant.id, (users) => users.create({ email: 'bare@example.com', username: 'bare', settings: { theme: 'dark' } }));
    expect(user.profile).toEqual({ display_name: null, bio: null, avatar_url: null });
    expect(await countRows('profile', tenant.id)).toBe(1);
    expect(await asTenant(tenant.id, (users) => users.getSettings(user.id))).toEqual({ theme: 'dark' });
  });

  it('rejects a second user with the same email in another case in the same tenant', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, (users) => users.create({ email: 'john@x.io', username: 'john' }));
    await expect(asTenant(tenant.id, (users) => users.create({ email: 'JOHN@X.IO', username: 'john2' })))
      .rejects.toMatchObject({ code: 'CONFLICT' });
    expect(await countRows('app_user', tenant.id)).toBe(1);
    expect(await countRows('profile', tenant.id)).toBe(1);
  });

  it('allows the same email in another tenant', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const inA = await asTenant(a.id, (users) => users.create({ email: 'same@x.io', username: 'same' }));
    const inB = await asTenant(b.id, (users) => users.create({ email: 'SAME@x.io', username: 'same' }));
    expect(inB.tenant_id).toBe(b.id);
    expect([await countRows('app_user', a.id), await countRows('app_user', b.id)]).toEqual([1, 1]);
    expect(inA.email).toBe('same@x.io');
  });

  it('rejects a malformed email, an empty username and an unknown field without sending a query', async () => {
    const tenant = await createTenant(database);
    const error = refusal(userCreateInput, { email: 'not-an-email', username: '', admin: true });
    expect(error).toMatchObject({ code: 'VALIDATION_FAILED' });
    const paths = (error as { details: { path: string }[] }).details.map((detail) => detail.path);
    expect(paths).toEqual(expect.arrayContaining(['email', 'username', '(root)']));
    expect(await countRows('app_user', tenant.id)).toBe(0);
  });

  it('rejects a profile whose avatar is not an http(s) URL', async () => {
    const tenant = await createTenant(database);
    expect(tenant.id).toBeGreaterThan(0);
    expect(refusal(userCreateInput, { email: 'a@x.io', username: 'a', profile: { avatar_url: 'javascript:alert(1)' } }))
      .toMatchObject({ code: 'VALIDATION_FAILED', details: [{ path: 'profile.avatar_url' }] });
    expect(await countRows('app_user', tenant.id)).toBe(0);
  });
});

describe('UserRepository.findByEmail', () => {
  it('finds a user by email in any case, with the profile loaded in the same query', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (users) => {
      await users.create({ email: 'Grace@Navy.mil', username: 'grace', profile: { display_name: 'Grace Hopper' } });
      const { result, queries } = await database.queries.measure(() => users.findByEmail('grace@NAVY.MIL'));
      expect(queries).toBe(1);
      expect(result).toMatchObject({ email: 'Grace@Navy.mil', profile: { display_name: 'Grace Hopper' } });
    });
  });

  it('returns undefined for an email that only another tenant has', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(a.id, (users) => users.create({ email: 'only-a@x.io', username: 'a' }));
    expect(await asTenant(b.id, (users) => users.findByEmail('only-a@x.io'))).toBeUndefined();
  });
});

describe('UserRepository.findActiveUsers and list', () => {
  it('returns active users with their profiles and leaves inactive users out', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (users) => {
      const active = await users.create({ email: 'on@x.io', username: 'on', profile: { display_name: 'On' } });
      await users.create({ email: 'off@x.io', username: 'off', is_active: false });
      const found = await users.findActiveUsers({ limit: 100 });
      expect(found.map((user) => user.id)).toEqual([active.id]);
      expect(found[0]!.profile.display_name).toBe('On');
    });
  });

  it('pages through users by id without skipping or repeating any', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (users) => {
      const created = [];
      for (let index = 0; index < 5; index += 1) created.push(await users.create({ email: `p${index}@x.io`, username: `p${index}` }));
      const first = await users.list({ limit: 2 });
      const second = await users.list({ limit: 2, afterId: first.at(-1)!.id });
      const third = await users.list({ limit: 2, afterId: second.at(-1)!.id });
      expect([...first, ...second, ...third].map((user) => user.id)).toEqual(created.map((user) => user.id));
      expect(third).toHaveLength(1);
    });
  });

  it('filters by the active flag and by email in any case', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, async (users) => {
      const on = await users.create({ email: 'Filter@x.io', username: 'filter' });
      const off = await users.create({ email: 'off@x.io', username: 'off', is_active: false });
      expect((await users.list({ limit: 10, active: false })).map((user) => user.id)).toEqual([off.id]);
      expect((await users.list({ limit: 10, active: true })).map((user) => user.id)).toEqual([on.id]);
      expect((await users.list({ limit: 10, email: 'FILTER@X.IO' })).map((user) => user.id)).toEqual([on.id]);
    });
  });

  it('never lists another tenant\'s users', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(a.id, (users) => users.create({ email: 'a@x.io', username: 'a' }));
    const mine = await asTenant(b.id, (users) => users.create({ email: 'b@x.io', username: 'b' }));
    const listed = await asTenant(b.id, async (users) => [...await users.list({ limit: 100 }), ...await users.findActiveUsers({ limit: 100 })]);
    expect(listed.map((user) => user.id)).toEqual([mine.id, mine.id]);
  });

  it('rejects a limit of zero or above 1000', async () => {
    const tenant = await createTenant(database);
    expect(tenant.id).toBeGreaterThan(0);
    expect(refusal(userListOptions, { limit: 0 })).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(refusal(activeUserOptions, { limit: 1001 })).toMatchObject({ code: 'VALIDATION_FAILED' });
  });
});

describe('UserRepository.getById, update and delete', () => {
  it('throws NOT_FOUND for an id that does not exist', async () => {
    const tenant = await createTenant(database);
    await expect(asTenant(tenant.id, (users) => users.getById(999_999_999))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('throws NOT_FOUND for another tenant\'s user', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const user = await asTenant(a.id, (users) => users.create({ email: 'a@x.io', username: 'a' }));
    expect((await asTenant(a.id, (users) => users.getById(user.id))).email).toBe('a@x.io');
    await expect(asTenant(b.id, (users) => users.getById(user.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('changes only the fields in the patch and returns the user with the profile', async () => {
    const tenant = await createTenant(database);
    const user = await asTenant(tenant.id, (users) => users.create({ email: 'old@x.io', username: 'old', profile: { bio: 'kept' } }));
    // updated_at is the transaction's start: with both in the same millisecond, the bump would not show in a Date.
    await new Promise((resolve) => setTimeout(resolve, 2));
    const updated = await asTenant(tenant.id, (users) => users.update(user.id, { username: 'new', is_active: false }));
    expect(updated).toMatchObject({ id: user.id, email: 'old@x.io', username: 'new', is_active: false, profile: { bio: 'kept' } });
    expect(updated.updated_at.getTime()).toBeGreaterThan(user.updated_at.getTime());
  });

  it('rejects an empty patch', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    expect(user.id).toBeGreaterThan(0);
    expect(refusal(userPatch, {})).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(refusal(userPatch, { email: undefined })).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('rejects changing the email to another user\'s email in another case', async () => {
    const tenant = await createTenant(database);
    await createUser(database, tenant.id, 'taken@x.io');
    const user = await createUser(database, tenant.id, 'mine@x.io');
    await expect(asTenant(tenant.id, (users) => users.update(user.id, { email: 'TAKEN@x.io' }))).rejects.toMatchObject({ code: 'CONFLICT' });
    expect((await userRow(tenant.id, user.id))!.email).toBe('mine@x.io');
  });

  it('cannot update another tenant\'s user: NOT_FOUND and the row is unchanged', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const user = await createUser(database, a.id, 'victim@x.io');
    await expect(asTenant(b.id, (users) => users.update(user.id, { is_active: false }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await userRow(a.id, user.id)).toMatchObject({ is_active: true, email: 'victim@x.io' });
  });

  it('deletes the user and, through the cascade, its profile and settings', async () => {
    const tenant = await createTenant(database);
    const user = await asTenant(tenant.id, (users) => users.create({ email: 'gone@x.io', username: 'gone', profile: { bio: 'x' } }));
    await asTenant(tenant.id, (users) => users.delete(user.id));
    expect([await countRows('app_user', tenant.id), await countRows('profile', tenant.id), await countRows('user_settings', tenant.id)])
      .toEqual([0, 0, 0]);
    await expect(asTenant(tenant.id, (users) => users.delete(user.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('cannot delete another tenant\'s user: NOT_FOUND and the rows stay', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const user = await asTenant(a.id, (users) => users.create({ email: 'stay@x.io', username: 'stay' }));
    await expect(asTenant(b.id, (users) => users.delete(user.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect([await countRows('app_user', a.id), await countRows('profile', a.id), await countRows('user_settings', a.id)]).toEqual([1, 1, 1]);
  });
});

describe('UserRepository.search', () => {
  it('finds \'john\' in john@x.io and, by prefix, in the username johnny, and not another tenant\'s john', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const [byEmail, byUsername] = await asTenant(a.id, async (users) => [
      await users.create({ email: 'john@x.io', username: 'jdoe' }),
      await users.create({ email: 'someone@y.io', username: 'johnny' }),
      await users.create({ email: 'mary@x.io', username: 'mary' }),
    ]);
    await asTenant(b.id, (users) => users.create({ email: 'john@b.io', username: 'john' }));
    const found = await asTenant(a.id, (users) => users.search('john', 50));
    expect(found.map((user) => user.id).sort()).toEqual([byEmail.id, byUsername.id].sort());
  });

  it('requires every word of the query to match, each as a prefix', async () => {
    const tenant = await createTenant(database);
    const [match] = await asTenant(tenant.id, async (users) => [
      await users.create({ email: 'john.smith@acme.io', username: 'js' }),
      await users.create({ email: 'john.brown@acme.io', username: 'jb' }),
    ]);
    expect((await asTenant(tenant.id, (users) => users.search('JOHN smi', 50))).map((user) => user.id)).toEqual([match.id]);
  });

  it('treats tsquery operators and quotes in the query as plain words', async () => {
    const tenant = await createTenant(database);
    const user = await asTenant(tenant.id, (users) => users.create({ email: 'john@x.io', username: 'john' }));
    for (const q of ['john & !', 'john:* | x', '\'john\'', '(john', 'john\\', 'john <-> io']) {
      expect((await asTenant(tenant.id, (users) => users.search(q, 50))).map((found) => found.id), q).toEqual([user.id]);
    }
  });

  it('returns nothing, without a query, when no word is left after sanitising', async () => {
    const tenant = await createTenant(database);
    await asTenant(tenant.id, (users) => users.create({ email: 'john@x.io', username: 'john' }));
    await asTenant(tenant.id, async (users) => {
      const { result, queries } = await database.queries.measure(() => users.search(' &|!:*() ', 50));
      expect(result).toEqual([]);
      expect(queries).toBe(0);
    });
  });

});

describe('UserRepository profiles and settings', () => {
  it('reads a user without a profile row as an empty profile', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    expect(await asTenant(tenant.id, (users) => users.getProfile(user.id)))
      .toMatchObject({ user_id: user.id, display_name: null, bio: null, avatar_url: null });
    expect(await asTenant(tenant.id, (users) => users.getSettings(user.id))).toEqual({});
  });

  it('putProfile creates a missing profile and then replaces it whole', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await asTenant(tenant.id, (users) => users.putProfile(user.id, { display_name: 'First', bio: 'old bio' }));
    const replaced = await asTenant(tenant.id, (users) => users.putProfile(user.id, { display_name: 'Second' }));
    expect(replaced).toMatchObject({ user_id: user.id, display_name: 'Second', bio: null, avatar_url: null });
    expect(await asTenant(tenant.id, (users) => users.getProfile(user.id))).toMatchObject({ display_name: 'Second', bio: null });
    expect(await countRows('profile', tenant.id)).toBe(1);
  });

  it('cannot read or write another tenant\'s profile: NOT_FOUND and no row is created', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const user = await createUser(database, a.id);
    await expect(asTenant(b.id, (users) => users.getProfile(user.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (users) => users.putProfile(user.id, { display_name: 'Mallory' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect([await countRows('profile', a.id), await countRows('profile', b.id)]).toEqual([0, 0]);
  });

  it('mergeSettings applies a JSON merge patch: objects merge, null removes a key, arrays are replaced', async () => {
    const tenant = await createTenant(database);
    const user = await asTenant(tenant.id, (users) => users.create({
      email: 's@x.io', username: 's', settings: { theme: 'dark', notify: { email: true, sms: true }, tags: ['a', 'b'] },
    }));
    const merged = await asTenant(tenant.id, (users) => users.mergeSettings(user.id, { theme: null, notify: { sms: null, push: true }, tags: ['c'] }));
    expect(merged).toEqual({ notify: { email: true, push: true }, tags: ['c'] });
    expect(await asTenant(tenant.id, (users) => users.getSettings(user.id))).toEqual(merged);
  });

  it('mergeSettings creates the settings row of a user that has none', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    expect(await asTenant(tenant.id, (users) => users.mergeSettings(user.id, { locale: 'fr' }))).toEqual({ locale: 'fr' });
    expect(await countRows('user_settings', tenant.id)).toBe(1);
  });

  it('mergeSettings loses no key under 10 concurrent merges of different keys', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    await Promise.all(Array.from({ length: 10 }, (_, index) => asTenant(tenant.id, (users) => users.mergeSettings(user.id, { [`k${index}`]: index }))));
    const settings = await asTenant(tenant.id, (users) => users.getSettings(user.id));
    expect(Object.keys(settings).sort()).toEqual(Array.from({ length: 10 }, (_, index) => `k${index}`).sort());
  });

  it('refuses settings that are not a JSON object or hold a NUL character', async () => {
    const tenant = await createTenant(database);
    await createUser(database, tenant.id);
    for (const patch of [['array'], 'text', { bad: Number.NaN }, { nested: { text: 'a\u0000b' } }]) {
      expect(refusal(settingsObject, patch), JSON.stringify(patch)).toMatchObject({ code: 'VALIDATION_FAILED' });
    }
    expect(await countRows('user_settings', tenant.id)).toBe(0);
  });

  it('cannot read or merge another tenant\'s settings: NOT_FOUND and nothing changes', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const user = await asTenant(a.id, (users) => users.create({ email: 'a@x.io', username: 'a', settings: { theme: 'light' } }));
    await expect(asTenant(b.id, (users) => users.getSettings(user.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(asTenant(b.id, (users) => users.mergeSettings(user.id, { theme: 'pwned' }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await asTenant(a.id, (users) => users.getSettings(user.id))).toEqual({ theme: 'light' });
    expect(await countRows('user_settings', b.id)).toBe(0);
  });
});

describe('UserRepository.getUserProfile', () => {
  it('loads the user, the profile and the settings in exactly one query', async () => {
    const tenant = await createTenant(database);
    const user = await asTenant(tenant.id, (users) => users.create({
      email: 'one@x.io', username: 'one', profile: { display_name: 'One' }, settings: { theme: 'dark' },
    }));
    await asTenant(tenant.id, async (users) => {
      const { result, queries } = await database.queries.measure(() => users.getUserProfile(user.id));
      expect(queries).toBe(1);
      expect(result).toMatchObject({ id: user.id, email: 'one@x.io', profile: { display_name: 'One' }, settings: { theme: 'dark' } });
    });
  });

  it('reads missing profile and settings rows as empty ones', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    expect(await asTenant(tenant.id, (users) => users.getUserProfile(user.id)))
      .toMatchObject({ id: user.id, profile: { display_name: null, bio: null, avatar_url: null }, settings: {} });
  });

  it('throws NOT_FOUND for another tenant\'s user', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    const user = await createUser(database, a.id);
    await expect(asTenant(b.id, (users) => users.getUserProfile(user.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});

describe('UserRepository.countByActive', () => {
  it('counts the tenant\'s active and inactive users in one grouped query, ignoring other tenants', async () => {
    const a = await createTenant(database, 'Alpha');
    const b = await createTenant(database, 'Beta');
    await asTenant(a.id, async (users) => {
      for (const index of [1, 2, 3]) await users.create({ email: `on${index}@x.io`, username: `on${index}` });
      await users.create({ email: 'off@x.io', username: 'off', is_active: false });
    });
    await asTenant(b.id, (users) => users.create({ email: 'b@x.io', username: 'b', is_active: false }));
    await asTenant(a.id, async (users) => {
      const { result, queries } = await database.queries.measure(() => users.countByActive());
      expect(queries).toBe(1);
      expect(result).toEqual([{ is_active: true, count: 3 }, { is_active: false, count: 1 }]);
    });
  });
});

describe('app_user constraints in the database', () => {
  it('refuses a duplicate email in another case even from raw SQL inside withTenant', async () => {
    const tenant = await createTenant(database);
    await createUser(database, tenant.id, 'raw@x.io');
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`
      insert into app_user (tenant_id, email, username) values (${tenant.id}, 'RAW@X.IO', 'raw')`.execute(trx)))
      .rejects.toMatchObject({ code: 'CONFLICT', details: [{ path: 'email' }], cause: { constraint: constraintNamed('app_user_tenant_email_key') } });
  });
});
