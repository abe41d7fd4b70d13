import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant } from '../../src/db/tenant.js';
import { ApiKeyRepository } from '../../src/repositories/api-key-repository.js';
import { CredentialRepository } from '../../src/repositories/credential-repository.js';
import { IdempotencyKeyRepository } from '../../src/repositories/idempotency-key-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant } from '../helpers/fixtures.js';

let database: TestDatabase;
let a: number;
let b: number;

beforeAll(async () => {
  database = await migratedDatabase();
  a = (await createTenant(database, 'Keys A')).id;
  b = (await createTenant(database, 'Keys B')).id;
});

const keys = <T>(tenantId: number, fn: (repository: ApiKeyRepository) => Promise<T>) =>
  withTenant(database, { tenantId }, (trx) => fn(new ApiKeyRepository(trx)));
const idempotency = <T>(tenantId: number, fn: (repository: IdempotencyKeyRepository) => Promise<T>) =>
  withTenant(database, { tenantId }, (trx) => fn(new IdempotencyKeyRepository(trx)));

let serial = 0;
const newKey = (readOnly = false) => ({ name: 'k', prefix: `p${(serial += 1).toString().padStart(7, '0')}`, keyHash: 'h'.repeat(64), readOnly });

describe('ApiKeyRepository', () => {
  it('stores a key under the scope\'s tenant and lists the tenant\'s keys in id order, a page at a time', async () => {
    const first = await keys(a, (repository) => repository.create(newKey()));
    const second = await keys(a, (repository) => repository.create(newKey(true)));
    expect(second).toMatchObject({ name: 'k', read_only: true });
    const page = await keys(a, (repository) => repository.list({ afterId: first.id, limit: 1 }));
    expect(page.map((row) => row.id)).toEqual([second.id]);
    expect(page[0]).not.toHaveProperty('key_hash');
  });

  it('locks only active read-write keys, and revokes a key once (NOT_FOUND the second time)', async () => {
    const writer = await keys(a, (repository) => repository.create(newKey()));
    const reader = await keys(a, (repository) => repository.create(newKey(true)));
    const writers = await keys(a, (repository) => repository.lockActiveWriters());
    expect(writers).toContain(writer.id);
    expect(writers).not.toContain(reader.id);
    await keys(a, (repository) => repository.revoke(writer.id));
    expect(await keys(a, (repository) => repository.lockActiveWriters())).not.toContain(writer.id);
    await expect(keys(a, (repository) => repository.revoke(writer.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('cannot see or revoke another tenant\'s keys', async () => {
    const theirs = await keys(b, (repository) => repository.create(newKey()));
    expect((await keys(a, (repository) => repository.list({ limit: 1000 }))).map((row) => row.id)).not.toContain(theirs.id);
    expect(await keys(a, (repository) => repository.lockActiveWriters())).not.toContain(theirs.id);
    await expect(keys(a, (repository) => repository.revoke(theirs.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const row = await database.admin.selectFrom('api_key').select('revoked_at').where('id', '=', theirs.id).executeTakeFirstOrThrow();
    expect(row.revoked_at).toBeNull();
  });
});

describe('CredentialRepository', () => {
  it('finds a tenant key only under its own tenant, active, and marks it used', async () => {
    const credentials = new CredentialRepository(database.admin);
    const key = newKey();
    const stored = await keys(a, (repository) => repository.create(key));
    expect(await credentials.findTenantKey(b, key.prefix)).toBeUndefined();
    expect(await credentials.findTenantKey(a, key.prefix)).toMatchObject({ id: stored.id, key_hash: key.keyHash, last_used_at: null });
    await credentials.markTenantKeyUsed(a, stored.id);
    expect((await credentials.findTenantKey(a, key.prefix))!.last_used_at).toBeInstanceOf(Date);
    await keys(a, (repository) => repository.revoke(stored.id));
    expect(await credentials.findTenantKey(a, key.prefix)).toBeUndefined();
  });

  it('stores an admin key once per prefix and finds it while active', async () => {
    const credentials = new CredentialRepository(database.admin);
    expect(await credentials.addAdminKey('adminpre', 'a'.repeat(64))).toBe(true);
    expect(await credentials.addAdminKey('adminpre', 'b'.repeat(64))).toBe(false);
    expect(await credentials.findAdminKey('adminpre')).toMatchObject({ key_hash: 'a'.repeat(64) });
    expect(await credentials.hasActiveAdminKey()).toBe(true);
    await sql`update admin_key set revoked_at = now()`.execute(database.admin);
    expect(await credentials.findAdminKey('adminpre')).toBeUndefined();
    expect(await credentials.hasActiveAdminKey()).toBe(false);
  });
});

describe('IdempotencyKeyRepository', () => {
  it('claims a key once, then returns its hash and the response byte for byte', async () => {
    const body = { z: 1, a: [2, { y: 'x' }] };
    await idempotency(a, async (repository) => {
      expect(await repository.claim('ingest', 'k-1', 'hash-1')).toBe(true);
      expect(await repository.claim('ingest', 'k-1', 'hash-2')).toBe(false);
      await repository.saveResponse('ingest', 'k-1', 201, body);
    });
    const stored = await idempotency(a, (repository) => repository.get('ingest', 'k-1'));
    expect(stored).toEqual({ requestHash: 'hash-1', statusCode: 201, body });
    expect(JSON.stringify(stored.body)).toBe(JSON.stringify(body));
    expect(await idempotency(a, (repository) => repository.claim('other-scope', 'k-1', 'hash-1'))).toBe(true);
  });

  it('cannot see another tenant\'s key: the same key is free for it', async () => {
    await idempotency(a, (repository) => repository.claim('ingest', 'shared', 'hash-a'));
    expect(await idempotency(b, (repository) => repository.claim('ingest', 'shared', 'hash-b'))).toBe(true);
    expect((await idempotency(b, (repository) => repository.get('ingest', 'shared'))).requestHash).toBe('hash-b');
    expect((await idempotency(a, (repository) => repository.get('ingest', 'shared'))).requestHash).toBe('hash-a');
  });

  it('deletes expired keys of every tenant, at most `limit` per call, and keeps fresh ones', async () => {
    await sql`delete from idempotency_key`.execute(database.admin);
    for (const tenantId of [a, b]) {
      await idempotency(tenantId, async (repository) => {
        for (const key of ['old-1', 'old-2', 'fresh']) await repository.claim('ingest', key, 'h');
      });
    }
    await sql`update idempotency_key set created_at = now() - interval '25 hours' where key like 'old-%'`.execute(database.admin);
    expect(await IdempotencyKeyRepository.deleteExpired(database.admin, 24, 3)).toBe(3);
    expect(await IdempotencyKeyRepository.deleteExpired(database.admin, 24, 3)).toBe(1);
    expect(await IdempotencyKeyRepository.deleteExpired(database.admin, 24, 3)).toBe(0);
    const left = await database.admin.selectFrom('idempotency_key').select(['tenant_id', 'key']).orderBy('tenant_id').execute();
    expect(left).toEqual([{ tenant_id: a, key: 'fresh' }, { tenant_id: b, key: 'fresh' }]);
  });
});
