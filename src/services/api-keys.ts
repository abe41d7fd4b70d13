import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { DB } from '../db/schema.generated.js';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';
import { ApiKeyRepository } from '../repositories/api-key-repository.js';
import { CredentialRepository } from '../repositories/credential-repository.js';

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
  const secret = newSecret();
  const row = await new ApiKeyRepository(trx).create({
    name, prefix: secret.slice(0, PREFIX_LENGTH), keyHash: hashSecret(secret), readOnly: options.readOnly ?? false,
  });
  return { id: row.id, key: `strata_${tenantOf(trx)}_${secret}`, prefix: row.prefix, name: row.name, readOnly: row.read_only, createdAt: row.created_at };
}

/** The tenant's keys in id order, a page at a time (the caller validates limit). */
export async function listTenantKeys(trx: TenantTx, options: { afterId?: number; limit: number }) {
  return new ApiKeyRepository(trx).list(options);
}

/**
 * Revokes one of the tenant's keys. With keepOneActive (a tenant revoking its own keys) the last
 * active read-write key is refused: read-only keys cannot issue keys, so the tenant would be locked
 * out of its own writes. The admin may revoke any key, since it can always issue another.
 */
export async function revokeTenantKey(trx: TenantTx, id: number, options: { keepOneActive?: boolean } = {}): Promise<void> {
  const keys = new ApiKeyRepository(trx);
  if (options.keepOneActive) {
    // Locked: concurrent revocations are serialised; the second waits, re-reads the first one's
    // revoked row as no longer active, and so cannot take the tenant's last writer too.
    const writers = await keys.lockActiveWriters();
    if (writers.length === 1 && writers[0] === id) {
      throw new StrataError('LAST_ACTIVE_KEY', `API key ${id} is the tenant's last active read-write key: issue another before revoking it`);
    }
  }
  await keys.revoke(id);
}

/** Stores an admin key (from STRATA_ADMIN_KEY, or generated) unless it is stored already. */
export async function ensureAdminKey(admin: Kysely<DB>, configured?: string): Promise<{ key: string | null; created: boolean }> {
  const credentials = new CredentialRepository(admin);
  if (configured !== undefined) {
    const match = ADMIN_KEY.exec(configured);
    if (!match) throw new StrataError('VALIDATION_FAILED', 'STRATA_ADMIN_KEY must look like strata_admin_<43 base64url characters>; or leave it unset to have one generated and printed on first start');
    const secret = match[1]!;
    return { key: null, created: await credentials.addAdminKey(secret.slice(0, PREFIX_LENGTH), hashSecret(secret)) };
  }
  if (await credentials.hasActiveAdminKey()) return { key: null, created: false };
  const key = generateAdminKey();
  await ensureAdminKey(admin, key);
  return { key, created: true };
}

export function generateAdminKey(): string {
  return `strata_admin_${newSecret()}`;
}

/** Resolves a bearer key to its principal; null for a malformed, unknown or revoked key. */
export async function authenticate(admin: Kysely<DB>, key: string): Promise<Principal | null> {
  const credentials = new CredentialRepository(admin);
  const adminMatch = ADMIN_KEY.exec(key);
  if (adminMatch) {
    const secret = adminMatch[1]!;
    const row = await credentials.findAdminKey(secret.slice(0, PREFIX_LENGTH));
    return row && sameHash(row.key_hash, hashSecret(secret)) ? { kind: 'admin', keyId: row.id } : null;
  }
  const tenantMatch = TENANT_KEY.exec(key);
  if (!tenantMatch) return null;
  const tenantId = Number(tenantMatch[1]);
  const secret = tenantMatch[2]!;
  const row = await credentials.findTenantKey(tenantId, secret.slice(0, PREFIX_LENGTH));
  if (!row || !sameHash(row.key_hash, hashSecret(secret))) return null;
  if (!row.last_used_at || Date.now() - row.last_used_at.getTime() > LAST_USED_RESOLUTION_MS) {
    await credentials.markTenantKeyUsed(tenantId, row.id);
  }
  return { kind: 'tenant', tenantId, keyId: row.id, readOnly: row.read_only };
}
