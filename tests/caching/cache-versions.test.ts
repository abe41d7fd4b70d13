import { sql } from 'kysely';
import pg from 'pg';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { INVALIDATION_CHANNEL } from '../../src/caching/database-versions.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { issueTenantKey, revokeTenantKey } from '../../src/services/api-keys.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

// Migration 0019: the versions a cached value is checked against are bumped by the writing
// transaction itself, and announced only when it commits.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

/** The scopes announced on the invalidation channel, read up to a marker sent after the action. */
async function announcements() {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  onTestFinished(() => client.end());
  const heard: string[] = [];
  client.on('notification', (message) => heard.push(message.payload ?? ''));
  await client.query(`LISTEN ${INVALIDATION_CHANNEL}`);
  /** Everything announced since the last call: PostgreSQL delivers in commit order, so the marker comes last. */
  return async (): Promise<string[]> => {
    const marker = `marker ${Math.random()}`;
    await sql`select pg_notify(${INVALIDATION_CHANNEL}, ${marker})`.execute(database.admin);
    while (!heard.includes(marker)) await new Promise((resolve) => setTimeout(resolve, 5));
    const before = heard.splice(0, heard.indexOf(marker) + 1);
    return before.slice(0, -1).map((payload) => payload.split(' ')[0]!);
  };
}

async function versionOf(scope: string): Promise<number> {
  const { rows } = await sql<{ version: string }>`select version from cache_version where scope = ${scope}`.execute(database.admin);
  return Number(rows[0]?.version ?? 0);
}

describe('cache versions (migration 0019)', () => {
  it('bumps a user\'s version inside the transaction that changes its profile, and announces it only at commit', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const scope = `${tenant.id}:user:${user.id}`;
    const heard = await announcements();
    await heard();
    const before = await versionOf(scope);
    await withTenant(database, { tenantId: tenant.id }, async (trx) => {
      await new UserRepository(trx).putProfile(user.id, { bio: 'changed' });
      expect(await versionOf(scope)).toBe(before);
      expect(await heard()).toEqual([]);
    });
    expect(await versionOf(scope)).toBeGreaterThan(before);
    expect(await heard()).toEqual([scope]);
  });

  it('announces nothing, and bumps nothing, for a write that rolls back', async () => {
    const tenant = await createTenant(database);
    const user = await createUser(database, tenant.id);
    const scope = `${tenant.id}:user:${user.id}`;
    const heard = await announcements();
    await heard();
    const before = await versionOf(scope);
    await expect(withTenant(database, { tenantId: tenant.id }, async (trx) => {
      await new UserRepository(trx).putProfile(user.id, { bio: 'never committed' });
      throw new Error('rolled back');
    })).rejects.toThrow('rolled back');
    expect(await versionOf(scope)).toBe(before);
    expect(await heard()).toEqual([]);
  });

  it('bumps the tenant\'s sessions when a key is revoked, not when a request refreshes its last use', async () => {
    const tenant = await createTenant(database);
    const issued = await withTenant(database, { tenantId: tenant.id }, (trx) => issueTenantKey(trx, 'second'));
    const heard = await announcements();
    await heard();
    await sql`update api_key set last_used_at = now() where id = ${issued.id}`.execute(database.admin);
    expect(await heard()).toEqual([]);
    await withTenant(database, { tenantId: tenant.id }, (trx) => revokeTenantKey(trx, issued.id));
    expect(await heard()).toEqual([`${tenant.id}:sessions`]);
  });

  it('bumps each user once for a statement over many, and a tenant delete bumps only the tenant and forgets its scopes', async () => {
    const tenant = await createTenant(database);
    const users = [];
    for (let index = 0; index < 3; index += 1) users.push(await createUser(database, tenant.id));
    const heard = await announcements();
    await heard();
    await withTenant(database, { tenantId: tenant.id }, (trx) => sql`update app_user set email = upper(email)`.execute(trx));
    expect((await heard()).sort()).toEqual(users.map((user) => `${tenant.id}:user:${user.id}`).sort());
    await sql`delete from tenant where id = ${tenant.id}`.execute(database.admin);
    expect(await heard()).toEqual([String(tenant.id)]);
    const { rows } = await sql<{ scope: string }>`select scope from cache_version where scope like ${`${tenant.id}:%`}`.execute(database.admin);
    expect(rows).toEqual([]);
    expect(await versionOf(String(tenant.id))).toBeGreaterThan(0);
  });

  it('cannot be read or written by the application role', async () => {
    const tenant = await createTenant(database);
    await expect(withTenant(database, { tenantId: tenant.id }, (trx) => sql`select * from cache_version`.execute(trx)))
      .rejects.toMatchObject({ code: '42501' });
  });
});
