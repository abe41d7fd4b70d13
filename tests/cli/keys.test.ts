import { beforeAll, describe, expect, it } from 'vitest';
import { authenticate } from '../../src/services/api-keys.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { testCli, type TestCli } from './cli-context.js';

let database: TestDatabase;
let cli: TestCli;

beforeAll(async () => {
  database = await migratedDatabase();
  cli = testCli(database);
});

describe('strata tenants create', () => {
  it('prints the new tenant\'s first key, which authenticates as that tenant', async () => {
    const printed = JSON.parse((await cli.run('tenants', 'create', 'Keyed'))[0]!);
    expect(printed.apiKey).toMatch(new RegExp(`^strata_${printed.id}_`));
    expect(await authenticate(database.admin, printed.apiKey)).toMatchObject({ kind: 'tenant', tenantId: printed.id, readOnly: false });
  });
});

describe('strata keys', () => {
  it('creates, lists and revokes keys of an existing tenant, read-only ones included', async () => {
    const tenant = await database.admin.insertInto('tenant').values({ name: 'Bare', slug: 'bare' }).returning('id').executeTakeFirstOrThrow();
    expect(await cli.run('keys', 'list', '--tenant', String(tenant.id)))
      .toEqual([`tenant ${tenant.id} has no API keys: \`strata keys create --tenant ${tenant.id}\` issues one`]);
    const created = JSON.parse((await cli.run('keys', 'create', '--tenant', String(tenant.id), '--name', 'bi', '--read-only'))[0]!);
    expect(created).toMatchObject({ name: 'bi', readOnly: true });
    expect(await authenticate(database.admin, created.key)).toMatchObject({ kind: 'tenant', tenantId: tenant.id, readOnly: true });

    const listed = await cli.run('keys', 'list', '--tenant', String(tenant.id));
    expect(listed[0]).toMatch(/^\s*id\s+name\s+prefix\s+access\s+state$/);
    expect(listed.slice(1).map((line) => line.trim().split(/\s+/))).toEqual([[String(created.id), 'bi', expect.any(String), 'read-only', 'active']]);
    expect(await cli.run('keys', 'revoke', String(created.id), '--tenant', String(tenant.id))).toEqual([`Revoked key ${created.id} of tenant ${tenant.id}`]);
    expect(await authenticate(database.admin, created.key)).toBeNull();
    expect((await cli.run('keys', 'list', '--tenant', String(tenant.id))).slice(1)).toEqual([expect.stringMatching(/ revoked$/)]);
  });

  it('answers NOT_FOUND for a tenant that does not exist or another tenant\'s key', async () => {
    await expect(cli.run('keys', 'create', '--tenant', '999999')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const a = JSON.parse((await cli.run('tenants', 'create', 'A keys'))[0]!);
    const b = JSON.parse((await cli.run('tenants', 'create', 'B keys'))[0]!);
    const [aKey] = (await cli.run('keys', 'list', '--tenant', String(a.id)))[1]!.trim().split(/\s+/);
    await expect(cli.run('keys', 'revoke', aKey!, '--tenant', String(b.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(await authenticate(database.admin, a.apiKey)).not.toBeNull();
  });
});
