import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { NotifyFeed } from '../../src/caching/notify-feed.js';
import { PollFeed } from '../../src/caching/poll-feed.js';
import type { FeedEvents } from '../../src/caching/version-feed.js';
import { withTenant } from '../../src/db/tenant.js';
import { UserRepository } from '../../src/repositories/user-repository.js';
import { issueTenantKey, revokeTenantKey } from '../../src/services/api-keys.js';
import { createTenant, createUser } from '../helpers/fixtures.js';
import { migratedDatabase, onCitus, type TestDatabase } from '../helpers/database.js';
import { eventually } from './support.js';

// Migrations 0019 and 0023: the versions a cached value is checked against are bumped by the writing
// transaction itself (on a cluster, in its part on the worker that holds the rows), and made known
// only when it commits: heard over LISTEN on a single server, polled from every node on a cluster.
let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

async function committedVersions(): Promise<Map<string, number>> {
  const { rows } = await sql<{ scope: string; version: string }>`select scope, version from cache_version`.execute(database.admin);
  return new Map(rows.map((row) => [row.scope, Number(row.version)]));
}

/** The feed an instance keeps its versions with on this server, and what it has proven and learned. */
function openFeed() {
  const learned = new Map<string, number>();
  const seen = { provenAt: Number.NEGATIVE_INFINITY, lost: undefined as string | undefined };
  const events: FeedEvents = {
    learn: (scope, version) => learned.set(scope, Math.max(learned.get(scope) ?? 0, version)),
    proven: (sentAt) => {
      seen.provenAt = Math.max(seen.provenAt, sentAt);
    },
    lost: (reason) => {
      seen.lost = reason;
    },
  };
  const options = { url: database.url, heartbeatMs: 20, leaseMs: 1000 };
  const feed = onCitus() ? new PollFeed(options, events) : new NotifyFeed(options, events);
  onTestFinished(() => feed.close());
  return { learned, seen };
}

/**
 * The scopes whose version the feed made known since the last call: once it has proven itself
 * current past the call, every commit before the call is among them. Versions that a poll reads again
 * (it rereads while an older transaction holds the node's horizon back) are not news.
 */
async function announcements() {
  const { learned, seen } = openFeed();
  const reported = await committedVersions();
  return async (): Promise<string[]> => {
    const asked = performance.now();
    await eventually(() => {
      if (seen.lost) throw new Error(`the feed was lost: ${seen.lost}`);
      return seen.provenAt > asked;
    }, 'the feed to prove itself current');
    const news = [...learned].filter(([scope, version]) => version > (reported.get(scope) ?? 0)).map(([scope]) => scope);
    for (const [scope, version] of learned) reported.set(scope, version);
    return news;
  };
}

async function versionOf(scope: string): Promise<number> {
  const { rows } = await sql<{ version: string }>`select version from cache_version where scope = ${scope}`.execute(database.admin);
  return Number(rows[0]?.version ?? 0);
}

/** The worker (group id) holding the tenant's shard group. */
async function nodeOf(tenantId: number): Promise<number> {
  const { rows } = await sql<{ groupid: number }>`select p.groupid from pg_dist_placement p
    where p.shardid = get_shard_id_for_distribution_column('app_user', ${tenantId}::bigint)`.execute(database.admin);
  return rows[0]!.groupid;
}

describe('cache versions (migrations 0019, 0023)', () => {
  it('bumps a user\'s version inside the transaction that changes its profile, and makes it known only at commit', async () => {
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

  it('makes nothing known, and bumps nothing, for a write that rolls back', async () => {
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

  it.runIf(onCitus())('on a cluster, keeps a tenant\'s versions in its shard group, on the worker that holds its rows', async () => {
    const { rows } = await sql<{ table: string; column: string; colocated: boolean }>`
      select table_name::text as table, distribution_column as column,
        colocation_id = (select colocation_id from citus_tables where table_name = 'app_user'::regclass) as colocated
      from citus_tables where table_name = 'cache_version'::regclass`.execute(database.admin);
    expect(rows).toEqual([{ table: 'cache_version', column: 'tenant_id', colocated: true }]);
  });

  it.runIf(onCitus())('on a cluster, a statement over tenants on both workers commits in two phases with every bump (a NOTIFY there would make PREPARE fail)', async () => {
    const byNode = new Map<number, { tenantId: number; userId: number }>();
    while (byNode.size < 2) {
      const tenant = await createTenant(database);
      const user = await createUser(database, tenant.id);
      byNode.set(await nodeOf(tenant.id), { tenantId: tenant.id, userId: user.id });
    }
    const both = [...byNode.values()];
    const heard = await announcements();
    await heard();
    await sql`update app_user set username = username || '!' where tenant_id = any(${both.map((one) => one.tenantId)}::bigint[])`.execute(database.admin);
    expect((await heard()).sort()).toEqual(both.map((one) => `${one.tenantId}:user:${one.userId}`).sort());
  });

  it.runIf(onCitus())('on a cluster, bumps a tenant\'s version once per change, though the tenant table\'s trigger fires on every node', async () => {
    const tenant = await createTenant(database);
    const heard = await announcements();
    await heard();
    const before = await versionOf(String(tenant.id));
    await sql`update tenant set name = 'renamed' where id = ${tenant.id}`.execute(database.admin);
    expect(await heard()).toEqual([String(tenant.id)]);
    expect(await versionOf(String(tenant.id))).toBe(before + 1);
  });

  it.runIf(onCitus())('on a cluster, a poll forgets everything when the versions move to another node, and is current again after', async () => {
    const tenant = await createTenant(database);
    const { seen } = openFeed();
    await eventually(() => seen.provenAt > Number.NEGATIVE_INFINITY, 'a first poll');
    const { rows: [placement] } = await sql<{ shardid: string; from: number; to: number }>`
      select p.shardid::text as shardid, p.groupid as from, (select groupid from pg_dist_node
        where groupid not in (0, p.groupid) and noderole = 'primary' order by groupid limit 1) as to
      from pg_dist_placement p where p.shardid = get_shard_id_for_distribution_column('cache_version', ${tenant.id}::bigint)`.execute(database.admin);
    await sql`select citus_move_shard_placement(${placement!.shardid}::bigint,
        (select nodename from pg_dist_node where groupid = ${placement!.from}), (select nodeport from pg_dist_node where groupid = ${placement!.from}),
        (select nodename from pg_dist_node where groupid = ${placement!.to}), (select nodeport from pg_dist_node where groupid = ${placement!.to}),
        shard_transfer_mode => 'block_writes')`.execute(database.admin);
    await eventually(() => seen.lost !== undefined, 'the feed to notice the move');
    expect(seen.lost).toMatch(/^the cache versions moved between nodes/);
    const heard = await announcements();
    await heard();
    await sql`update tenant set name = 'moved' where id = ${tenant.id}`.execute(database.admin);
    expect(await heard()).toEqual([String(tenant.id)]);
  });
});
