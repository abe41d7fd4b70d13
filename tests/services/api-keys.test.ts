import { sql } from 'kysely';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { authenticate, ensureAdminKey, generateAdminKey, issueTenantKey, revokeTenantKey } from '../../src/services/api-keys.js';
import { createTenantWithKey } from '../../src/services/tenants.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';

let database: TestDatabase;
let tenant: { id: number; key: string; keyId: number };
let adminKey: string;

beforeAll(async () => {
  database = await migratedDatabase();
  adminKey = generateAdminKey();
  await ensureAdminKey(database.admin, adminKey);
  const created = await createTenantWithKey(database, { name: 'Keys', slug: 'keys' });
  tenant = { id: created.tenant.id, key: created.apiKey.key, keyId: created.apiKey.id };
});

// The last 43 characters: a secret is base64url, so it may itself hold '_'.
const secretOf = (key: string) => key.slice(-43);

describe('authenticate', () => {
  it('resolves a whole tenant key and a whole admin key to their principals', async () => {
    expect(await authenticate(database.admin, tenant.key)).toEqual({ kind: 'tenant', tenantId: tenant.id, keyId: tenant.keyId, readOnly: false });
    expect(await authenticate(database.admin, adminKey)).toEqual({ kind: 'admin', keyId: expect.any(Number) });
  });

  it('refuses a malformed key without asking the database: text around it, a secret too short or long, a bad tenant id', async () => {
    const secret = secretOf(tenant.key);
    const malformed = [
      `x${tenant.key}`, `${tenant.key}x`, `${tenant.key}\n`, tenant.key.slice(0, -1),
      `x${adminKey}`, `${adminKey}x`, adminKey.slice(0, -1), `strata_admin_${secret}A`,
      `strata_0${tenant.id}_${secret}`, `strata_${'9'.repeat(17)}_${secret}`, `strata__${secret}`,
      `strata_${tenant.id}_${secret.slice(0, 42)}!`, `strata_admin_${secret.slice(0, 42)}!`, '',
    ];
    for (const key of malformed) {
      const { result, queries } = await database.queries.measure(() => authenticate(database.admin, key));
      expect([key, result, queries]).toEqual([key, null, 0]);
    }
  });

  it('accepts the longest tenant id a key can carry, 16 digits, by asking the database', async () => {
    const { result, queries } = await database.queries.measure(() => authenticate(database.admin, `strata_${'9'.repeat(15)}1_${secretOf(tenant.key)}`));
    expect([result, queries]).toEqual([null, 1]);
  });

  it('refuses a key whose secret matches the stored prefix but not the hash', async () => {
    const secret = secretOf(tenant.key);
    const forged = `strata_${tenant.id}_${secret.slice(0, 8)}${secret.slice(8).split('').reverse().join('')}`;
    expect(forged).not.toBe(tenant.key);
    expect(await authenticate(database.admin, forged)).toBeNull();
    const admin = secretOf(adminKey);
    expect(await authenticate(database.admin, `strata_admin_${admin.slice(0, 8)}${admin.slice(8).split('').reverse().join('')}`)).toBeNull();
  });

  it('records last use at most once a minute per key: one update for two uses, another after a minute', async () => {
    await sql`update api_key set last_used_at = null where id = ${tenant.keyId}`.execute(database.admin);
    const first = await database.queries.measure(() => authenticate(database.admin, tenant.key));
    const second = await database.queries.measure(() => authenticate(database.admin, tenant.key));
    expect([first.queries, second.queries]).toEqual([2, 1]);
    await sql`update api_key set last_used_at = now() - interval '59 seconds' where id = ${tenant.keyId}`.execute(database.admin);
    expect((await database.queries.measure(() => authenticate(database.admin, tenant.key))).queries).toBe(1);
    await sql`update api_key set last_used_at = now() - interval '61 seconds' where id = ${tenant.keyId}`.execute(database.admin);
    expect((await database.queries.measure(() => authenticate(database.admin, tenant.key))).queries).toBe(2);
    const { rows: [row] } = await sql<{ recent: boolean }>`select last_used_at > now() - interval '5 seconds' as recent from api_key where id = ${tenant.keyId}`
      .execute(database.admin);
    expect(row!.recent).toBe(true);
  });

  it('refreshes last use only once more than a minute has passed: not at exactly 60 s, at 60.001 s', async () => {
    const lastUsed = new Date('2026-03-01T12:00:00.000Z');
    await sql`update api_key set last_used_at = ${lastUsed} where id = ${tenant.keyId}`.execute(database.admin);
    const queriesAt = async (elapsedMs: number) => {
      vi.setSystemTime(lastUsed.getTime() + elapsedMs);
      return (await database.queries.measure(() => authenticate(database.admin, tenant.key))).queries;
    };
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      expect([await queriesAt(59_999), await queriesAt(60_000)]).toEqual([1, 1]);
      expect(await queriesAt(60_001)).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('revokeTenantKey, keeping one active writer', () => {
  it('revokes a writer while another stays, then refuses the last with LAST_ACTIVE_KEY naming it', async () => {
    const { id: tenantId } = (await createTenantWithKey(database, { name: 'Writers', slug: 'writers' })).tenant;
    const scoped = <T>(fn: Parameters<typeof withTenant<T>>[2]) => withTenant(database, { tenantId }, fn);
    const second = await scoped((trx) => issueTenantKey(trx));
    expect(second).toMatchObject({ name: 'default', readOnly: false });
    const [first] = await database.admin.selectFrom('api_key').select('id').where('tenant_id', '=', tenantId).orderBy('id').execute();
    await scoped((trx) => revokeTenantKey(trx, first!.id, { keepOneActive: true }));
    await expect(scoped((trx) => revokeTenantKey(trx, second.id, { keepOneActive: true }))).rejects.toMatchObject({
      code: 'LAST_ACTIVE_KEY', message: `API key ${second.id} is the tenant's last active read-write key: issue another before revoking it`,
    });
    const active = await database.admin.selectFrom('api_key').select('id').where('tenant_id', '=', tenantId).where('revoked_at', 'is', null).execute();
    expect(active).toEqual([{ id: second.id }]);
  });
});

describe('ensureAdminKey', () => {
  it('refuses a configured key of the wrong form with VALIDATION_FAILED and stores nothing', async () => {
    const before = await database.admin.selectFrom('admin_key').select('id').execute();
    for (const configured of [`x${generateAdminKey()}`, `${generateAdminKey()}x`, 'strata_admin_short']) {
      await expect(ensureAdminKey(database.admin, configured)).rejects.toMatchObject({
        code: 'VALIDATION_FAILED',
        message: 'STRATA_ADMIN_KEY must look like strata_admin_<43 base64url characters>; '
          + 'or leave it unset to have one generated and printed on first start',
      });
    }
    expect(await database.admin.selectFrom('admin_key').select('id').execute()).toEqual(before);
  });

  it('stores a configured key once: created the first time, not the second', async () => {
    const configured = generateAdminKey();
    expect(await ensureAdminKey(database.admin, configured)).toEqual({ key: null, created: true });
    expect(await ensureAdminKey(database.admin, configured)).toEqual({ key: null, created: false });
    expect(await authenticate(database.admin, configured)).toMatchObject({ kind: 'admin' });
  });

  it('generates and returns a key only while no active admin key exists', async () => {
    expect(await ensureAdminKey(database.admin)).toEqual({ key: null, created: false });
    await sql`update admin_key set revoked_at = now()`.execute(database.admin);
    const generated = await ensureAdminKey(database.admin);
    expect(generated).toEqual({ key: expect.stringMatching(/^strata_admin_[A-Za-z0-9_-]{43}$/), created: true });
    expect(await authenticate(database.admin, generated.key!)).toMatchObject({ kind: 'admin' });
    expect(await authenticate(database.admin, adminKey)).toBeNull();
  });
});
