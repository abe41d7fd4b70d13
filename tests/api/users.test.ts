import { beforeAll, describe, expect, it } from 'vitest';
import { expectAuthRequired } from './support/auth.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { forgedCursors, walkPages } from './support/pages.js';
import { unique } from './support/seed.js';
import { twoTenants, type ApiTenant, type Seeder } from './support/two-tenants.js';

let api: CheckedApi, seed: Seeder, a: ApiTenant, b: ApiTenant;

beforeAll(async () => {
  ({ api, seed, a, b } = await twoTenants(checkedApi(), 'Users'));
});

describe('POST /v1/users', () => {
  it('creates a user with a profile and settings, answers in camelCase and records the key as the audit actor', async () => {
    const email = `${unique('ada')}@example.com`;
    const response = await api.call('POST', '/v1/users', a.key, {
      email, username: 'ada', isActive: false, profile: { displayName: 'Ada', avatarUrl: 'https://example.com/a.png' }, settings: { theme: 'dark' },
    });
    expect(response.statusCode).toBe(201);
    const user = response.json().data;
    expect(user).toMatchObject({ email, username: 'ada', isActive: false, profile: { displayName: 'Ada', bio: null, avatarUrl: 'https://example.com/a.png' } });
    expect(user).not.toHaveProperty('tenantId');
    expect((await api.call('GET', `/v1/users/${user.id}/settings`, a.key)).json().data).toEqual({ theme: 'dark' });
    const [firstKey] = (await api.call('GET', '/v1/api-keys', a.key)).json().data;
    const audit = await api.database.admin.selectFrom('audit_log').select(['actor_id', 'action'])
      .where('tenant_id', '=', a.id).where('table_name', '=', 'app_user').where('entity_id', '=', String(user.id)).execute();
    expect(audit).toEqual([{ actor_id: firstKey.id, action: 'INSERT' }]);
  });

  it('refuses an email already used in the tenant, in any case, with CONFLICT; another tenant may use it', async () => {
    const email = `${unique('dup')}@example.com`;
    await seed.user(a.key, { email });
    const response = await expectUnchanged(api.database, () => api.call('POST', '/v1/users', a.key, { email: email.toUpperCase(), username: 'again' }));
    expectError(response, 409, 'CONFLICT');
    expect((await api.call('POST', '/v1/users', b.key, { email, username: 'elsewhere' })).statusCode).toBe(201);
  });

  it('names every bad field, unknown ones included, and stores nothing', async () => {
    const response = await expectUnchanged(api.database, () => api.call('POST', '/v1/users', a.key, {
      email: 'not-an-email', username: '', isActive: 'yes', extra: 1, profile: { avatarUrl: 'ftp://x', nickname: 'x' },
    }));
    const error = expectError(response, 400, 'VALIDATION_FAILED', ['email', 'username', 'isActive', 'extra', 'profile.avatarUrl', 'profile.nickname']);
    expect(error.details.length).toBe(6);
  });

  it('refuses text PostgreSQL would not store as sent (NUL, lone surrogates) with the field named', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ username: 'a\u0000b' }, 'username'],
      [{ username: 'a\ud800' }, 'username'],
      [{ profile: { bio: 'x\udfffy' } }, 'profile.bio'],
      [{ settings: { note: 'nul \u0000' } }, 'settings.note'],
      [{ settings: { '\ud83d': 1 } }, 'settings.\ud83d'],
    ];
    await expectUnchanged(api.database, async () => {
      for (const [body, path] of cases) {
        const response = await api.call('POST', '/v1/users', a.key, { email: `${unique('t')}@example.com`, username: 'u', ...body });
        expectError(response, 400, 'VALIDATION_FAILED', [path]);
      }
    });
  });

  it('answers malformed JSON with MALFORMED_JSON and a body over 1 MB with PAYLOAD_TOO_LARGE', async () => {
    const json = { 'content-type': 'application/json' };
    expectError(await api.call('POST', '/v1/users', a.key, '{"email":', json), 400, 'MALFORMED_JSON');
    expectError(await api.call('POST', '/v1/users', a.key, { email: 'a@b.c', username: 'x'.repeat(1024 * 1024) }), 413, 'PAYLOAD_TOO_LARGE');
  });
});

describe('GET /v1/users', () => {
  it('walks every user exactly once through nextCursor, and filters by active and email', async () => {
    const tenant = await api.tenant('Users pages');
    const made = [];
    for (let index = 0; index < 7; index += 1) made.push(await seed.user(tenant.key, { isActive: index % 2 === 0 }));
    const { rows, pages } = await walkPages(api, '/v1/users', tenant.key, 3);
    expect(rows.map((row) => row.id)).toEqual(made.map((user) => user.id));
    expect(pages).toBe(3);
    const inactive = await walkPages(api, '/v1/users?active=false', tenant.key, 2);
    expect(inactive.rows.map((row) => row.id)).toEqual(made.filter((_, index) => index % 2 === 1).map((user) => user.id));
    const byEmail = await api.call('GET', `/v1/users?email=${encodeURIComponent(String(made[3]!.email).toUpperCase())}`, tenant.key);
    expect(byEmail.json().data.map((row: { id: number }) => row.id)).toEqual([made[3]!.id]);
  });

  it('searches username and email by word prefix with q=, only within the tenant', async () => {
    const word = unique('zebra').replaceAll('-', '');
    const mine = await seed.user(a.key, { username: `${word} keeper` });
    await seed.user(b.key, { username: `${word} keeper` });
    const response = await api.call('GET', `/v1/users?q=${word.slice(0, 8)}`, a.key);
    expect(response.json()).toEqual({ data: [expect.objectContaining({ id: mine.id })], nextCursor: null });
  });

  // A search is neither filtered nor paginated: active=, email= and cursor= beside q= are refused,
  // each named, rather than silently dropped.
  it('never answers q= with rows its other filters exclude', async () => {
    const word = `quiet${unique('w').replaceAll('-', '')}`;
    const quiet = await seed.user(a.key, { username: word, isActive: false });
    await seed.user(a.key);
    // The search alone finds the inactive user: the refusals below are not an empty search.
    expect((await api.call('GET', `/v1/users?q=${word}`, a.key)).json().data.map((row: { id: number }) => row.id)).toEqual([quiet.id]);
    const { nextCursor } = (await api.call('GET', '/v1/users?limit=1', a.key)).json();
    expect(typeof nextCursor).toBe('string');
    const filters: [string, string][] = [['active', 'active=true'], ['email', `email=${encodeURIComponent(String(quiet.email))}`], ['cursor', `cursor=${encodeURIComponent(nextCursor)}`]];
    for (const [path, filter] of filters) {
      const error = expectError(await api.call('GET', `/v1/users?q=${word}&${filter}`, a.key), 400, 'VALIDATION_FAILED', [path]);
      expect(error.details.map((detail) => detail.path)).toEqual([path]);
    }
    const all = expectError(await api.call('GET', `/v1/users?q=${word}&${filters.map(([, filter]) => filter).join('&')}`, a.key), 400, 'VALIDATION_FAILED');
    expect(all.details.map((detail) => detail.path).sort()).toEqual(['active', 'cursor', 'email']);
  });

  it('allows limit 500, refuses 0, 501 and non-numbers, and refuses every forged cursor', async () => {
    expect((await api.call('GET', '/v1/users?limit=500', a.key)).statusCode).toBe(200);
    for (const limit of ['0', '501', 'ten', '1e309', '-1']) {
      expectError(await api.call('GET', `/v1/users?limit=${limit}`, a.key), 400, 'VALIDATION_FAILED', ['limit']);
    }
    for (const cursor of forgedCursors) {
      expectError(await api.call('GET', `/v1/users?cursor=${encodeURIComponent(cursor)}`, a.key), 400, 'VALIDATION_FAILED', ['cursor']);
    }
    expectError(await api.call('GET', '/v1/users?active=yes&sort=id', a.key), 400, 'VALIDATION_FAILED', ['active', 'sort']);
  });

  it('never lists another tenant\'s users', async () => {
    const theirs = await seed.user(a.key);
    const { rows } = await walkPages(api, '/v1/users', b.key, 500);
    expect(rows.map((row) => row.id)).not.toContain(theirs.id);
    const byEmail = await api.call('GET', `/v1/users?email=${encodeURIComponent(String(theirs.email))}`, b.key);
    expect(byEmail.json().data).toEqual([]);
  });
});

describe('/v1/users/:id', () => {
  it('gets, patches and deletes a user; the delete takes profile, settings and memberships with it', async () => {
    const user = await seed.user(a.key, { profile: { bio: 'hello' } });
    expect((await api.call('GET', `/v1/users/${user.id}`, a.key)).json().data).toMatchObject({ id: user.id, profile: { bio: 'hello' } });
    const patched = await api.call('PATCH', `/v1/users/${user.id}`, a.key, { username: 'renamed', isActive: false });
    expect(patched.json().data).toMatchObject({ id: user.id, username: 'renamed', isActive: false, profile: { bio: 'hello' } });
    const team = await seed.team(a.key, (await seed.organization(a.key)).id);
    expect((await api.call('PUT', `/v1/teams/${team.id}/members/${user.id}`, a.key, { role: 'member' })).statusCode).toBe(200);
    expect((await api.call('DELETE', `/v1/users/${user.id}`, a.key)).statusCode).toBe(204);
    expectError(await api.call('GET', `/v1/users/${user.id}`, a.key), 404, 'NOT_FOUND');
    for (const table of ['profile', 'user_settings', 'membership'] as const) {
      const left = await api.database.admin.selectFrom(table).select('user_id').where('tenant_id', '=', a.id).where('user_id', '=', user.id).execute();
      expect(left).toEqual([]);
    }
    expectError(await api.call('DELETE', `/v1/users/${user.id}`, a.key), 404, 'NOT_FOUND');
  });

  it('refuses an empty patch, unknown fields and a taken email', async () => {
    const [first, second] = [await seed.user(a.key), await seed.user(a.key)];
    await expectUnchanged(api.database, async () => {
      expectError(await api.call('PATCH', `/v1/users/${first.id}`, a.key, {}), 400, 'VALIDATION_FAILED');
      expectError(await api.call('PATCH', `/v1/users/${first.id}`, a.key, { tenantId: b.id }), 400, 'VALIDATION_FAILED', ['tenantId']);
      expectError(await api.call('PATCH', `/v1/users/${first.id}`, a.key, { email: second.email }), 409, 'CONFLICT');
    });
  });

  it('refuses ids that are not positive safe integers', async () => {
    for (const id of ['0', '-1', 'abc', '9223372036854775808', '1e309', '1.5']) {
      expectError(await api.call('GET', `/v1/users/${id}`, a.key), 400, 'VALIDATION_FAILED', ['id']);
    }
  });
});

describe('/v1/users/:id/profile and /settings', () => {
  it('replaces the whole profile: fields left out become null', async () => {
    const user = await seed.user(a.key, { profile: { displayName: 'Old', bio: 'old bio' } });
    const response = await api.call('PUT', `/v1/users/${user.id}/profile`, a.key, { bio: 'new bio' });
    expect(response.json().data).toMatchObject({ userId: user.id, displayName: null, bio: 'new bio', avatarUrl: null });
    expect((await api.call('GET', `/v1/users/${user.id}/profile`, a.key)).json().data).toMatchObject({ displayName: null, bio: 'new bio' });
    expectError(await api.call('PUT', `/v1/users/${user.id}/profile`, a.key, { avatarUrl: 'javascript:alert(1)', displayName: 7 }),
      400, 'VALIDATION_FAILED', ['avatarUrl', 'displayName']);
  });

  it('merges settings as a JSON merge patch: objects merge, null removes a key, __proto__ is refused', async () => {
    const user = await seed.user(a.key, { settings: { theme: 'dark', notify: { email: true, sms: true } } });
    const merged = await api.call('PATCH', `/v1/users/${user.id}/settings`, a.key, { theme: null, notify: { sms: false }, locale: 'fr' });
    expect(merged.json().data).toEqual({ notify: { email: true, sms: false }, locale: 'fr' });
    expect((await api.call('GET', `/v1/users/${user.id}/settings`, a.key)).json().data).toEqual(merged.json().data);
    await expectUnchanged(api.database, async () => {
      const poisoned = await api.call('PATCH', `/v1/users/${user.id}/settings`, a.key, '{"__proto__":{"admin":true}}', { 'content-type': 'application/json' });
      expectError(poisoned, 400, 'MALFORMED_JSON');
      expectError(await api.call('PATCH', `/v1/users/${user.id}/settings`, a.key, [1, 2]), 400, 'VALIDATION_FAILED');
    });
  });

  it('refuses settings nested 10,000 deep without a 500', async () => {
    const user = await seed.user(a.key);
    const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const response = await expectUnchanged(api.database, () =>
      api.call('PATCH', `/v1/users/${user.id}/settings`, a.key, deep, { 'content-type': 'application/json' }));
    expectError(response, 400, 'VALIDATION_FAILED');
  });
});

describe('another tenant\'s users', () => {
  it('answers every user route with 404 for B\'s key on A\'s user, exactly as for an id that does not exist, and changes nothing', async () => {
    const theirs = await seed.user(a.key, { settings: { keep: true } });
    const missing = 2_000_000_000;
    const routes = (id: number): [string, string, unknown?][] => [
      ['GET', `/v1/users/${id}`],
      ['PATCH', `/v1/users/${id}`, { username: 'stolen' }],
      ['DELETE', `/v1/users/${id}`],
      ['GET', `/v1/users/${id}/profile`],
      ['PUT', `/v1/users/${id}/profile`, { bio: 'stolen' }],
      ['GET', `/v1/users/${id}/settings`],
      ['PATCH', `/v1/users/${id}/settings`, { keep: null }],
    ];
    await expectUnchanged(api.database, async () => {
      const foreign = routes(theirs.id);
      const absent = routes(missing);
      for (const [index, [method, url, body]] of foreign.entries()) {
        const response = await api.call(method, url, b.key, body);
        const error = expectError(response, 404, 'NOT_FOUND');
        const [absentMethod, absentUrl, absentBody] = absent[index]!;
        const control = (await api.call(absentMethod, absentUrl, b.key, absentBody)).json().error;
        expect(error.message.replace(String(theirs.id), 'N')).toBe(control.message.replace(String(missing), 'N'));
      }
    });
  });
});

describe('authentication on user routes', () => {
  it('refuses a missing, wrong, revoked or admin key with 401 on every route, and changes nothing', async () => {
    const user = await seed.user(a.key);
    const revoked = await seed.revokedKey(a.key);
    await expectAuthRequired(api, [
      { method: 'POST', url: '/v1/users', body: { email: 'x@example.com', username: 'x' } },
      { method: 'GET', url: '/v1/users' },
      { method: 'GET', url: `/v1/users/${user.id}` },
      { method: 'PATCH', url: `/v1/users/${user.id}`, body: { username: 'y' } },
      { method: 'DELETE', url: `/v1/users/${user.id}` },
      { method: 'GET', url: `/v1/users/${user.id}/profile` },
      { method: 'PUT', url: `/v1/users/${user.id}/profile`, body: { bio: 'y' } },
      { method: 'GET', url: `/v1/users/${user.id}/settings` },
      { method: 'PATCH', url: `/v1/users/${user.id}/settings`, body: { y: 1 } },
    ], a, revoked);
  });
});
