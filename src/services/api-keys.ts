import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { DB } from '../db/schema.generated.js';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';

/** Who is calling: an admin (manages tenants) or one tenant's key. */
export type Principal =
  | { kind: 'admin'; keyId: number }
  | { kind: 'tenant'; tenantId: number; keyId: number; readOnly: boolean };

// Tenant keys read strata_<tenant id>_<secret>, admin keys strata_admin_<secret>: the lookup needs
// no scan, and only the sha-256 of the secret is stored (the key is shown once, at creation).
const TENANT_KEY = /^strata_([1-9][0-9]{0,15})_([A-Za-z0-9_-]{43})$/;
const ADMIN_KEY = /^strata_admin_([A-Za-z0-9_-]{43})$/;
const PREFIX_LENGTH = 8;
// last_used_at is a hint, not a log: refresh it at most once a minute per key, not on every request.
const LAST_USED_RESOLUTION_MS = 60_000;

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

export interface IssuedKey {
  id: number;
  key: string;
  prefix: string;
  name: string;
  readOnly: boolean;
  createdAt: Date;
}

/** Issues a tenant key inside the tenant's transaction; the plain key is returned once and never stored. */
export async function issueTenantKey(trx: TenantTx, name = 'default', options: { readOnly?: boolean } = {}): Promise<IssuedKey> {
  const tenantId = tenantOf(trx);
  const secret = newSecret();
  const row = await trx.insertInto('api_key')
    .values({ tenant_id: tenantId, name, prefix: secret.slice(0, PREFIX_LENGTH), key_hash: hashSecret(secret), read_only: options.readOnly ?? false })
    .returning(['id', 'prefix', 'name', 'read_only', 'created_at'])
    .executeTakeFirstOrThrow();
  return { id: row.id, key: `strata_${tenantId}_${secret}`, prefix: row.prefix, name: row.name, readOnly: row.read_only, createdAt: row.created_at };
}

/** The tenant's keys in id order, a page at a time (the caller validates limit). */
export async function listTenantKeys(trx: TenantTx, options: { afterId?: number; limit: number }) {
  let query = trx.selectFrom('api_key')
    .select(['id', 'name', 'prefix', 'read_only', 'created_at', 'last_used_at', 'revoked_at'])
    .where('tenant_id', '=', tenantOf(trx));
  if (options.afterId !== undefined) query = query.where('id', '>', options.afterId);
  return query.orderBy('id').limit(options.limit).execute();
}

/**
 * Revokes one of the tenant's keys. With keepOneActive (a tenant revoking its own keys) the last
 * active read-write key is refused: read-only keys cannot issue keys, so the tenant would be locked
 * out of its own writes. The admin may revoke any key, since it can always issue another.
 */
export async function revokeTenantKey(trx: TenantTx, id: number, options: { keepOneActive?: boolean } = {}): Promise<void> {
  if (options.keepOneActive) {
    // FOR UPDATE serialises concurrent revocations: the second waits, re-reads the first one's
    // revoked row as no longer active, and so cannot take the tenant's last writer too.
    const writers = await trx.selectFrom('api_key').select('id')
      .where('tenant_id', '=', tenantOf(trx)).where('revoked_at', 'is', null).where('read_only', '=', false)
      .orderBy('id').forUpdate().execute();
    if (writers.length === 1 && writers[0]!.id === id) {
      throw new StrataError('LAST_ACTIVE_KEY', `API key ${id} is the tenant's last active read-write key: issue another before revoking it`);
    }
  }
  const result = await trx.updateTable('api_key').set({ revoked_at: sql`now()` })
    .where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new StrataError('NOT_FOUND', `API key ${id} does not exist`);
}

/** Stores an admin key (from STRATA_ADMIN_KEY, or generated) unless it is stored already. */
export async function ensureAdminKey(admin: Kysely<DB>, configured?: string): Promise<{ key: string | null; created: boolean }> {
  if (configured !== undefined) {
    const match = ADMIN_KEY.exec(configured);
    if (!match) throw new StrataError('VALIDATION_FAILED', 'STRATA_ADMIN_KEY must look like strata_admin_<43 base64url characters>; or leave it unset to have one generated and printed on first start');
    const secret = match[1]!;
    const inserted = await admin.insertInto('admin_key')
      .values({ prefix: secret.slice(0, PREFIX_LENGTH), key_hash: hashSecret(secret) })
      .onConflict((oc) => oc.column('prefix').doNothing()).returning('id').executeTakeFirst();
    return { key: null, created: inserted !== undefined };
  }
  const existing = await admin.selectFrom('admin_key').select('id').where('revoked_at', 'is', null).executeTakeFirst();
  if (existing) return { key: null, created: false };
  const key = generateAdminKey();
  await ensureAdminKey(admin, key);
  return { key, created: true };
}

export function generateAdminKey(): string {
  return `strata_admin_${newSecret()}`;
}

/** Resolves a bearer key to its principal; null for a malformed, unknown or revoked key. */
export async function authenticate(admin: Kysely<DB>, key: string): Promise<Principal | null> {
  const adminMatch = ADMIN_KEY.exec(key);
  if (adminMatch) {
    const secret = adminMatch[1]!;
    const row = await admin.selectFrom('admin_key').select(['id', 'key_hash'])
      .where('prefix', '=', secret.slice(0, PREFIX_LENGTH)).where('revoked_at', 'is', null).executeTakeFirst();
    return row && sameHash(row.key_hash, hashSecret(secret)) ? { kind: 'admin', keyId: row.id } : null;
  }
  const tenantMatch = TENANT_KEY.exec(key);
  if (!tenantMatch) return null;
  const tenantId = Number(tenantMatch[1]);
  const secret = tenantMatch[2]!;
  const row = await admin.selectFrom('api_key').select(['id', 'key_hash', 'last_used_at', 'read_only'])
    .where('tenant_id', '=', tenantId).where('prefix', '=', secret.slice(0, PREFIX_LENGTH))
    .where('revoked_at', 'is', null).executeTakeFirst();
  if (!row || !sameHash(row.key_hash, hashSecret(secret))) return null;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
    await admin.updateTable('api_key').set({ last_used_at: sql`now()` })
      .where('tenant_id', '=', tenantId).where('id', '=', row.id).execute();
  }
  return { kind: 'tenant', tenantId, keyId: row.id, readOnly: row.read_only };
}
