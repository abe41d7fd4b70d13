import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CacheKeys } from '../../src/caching/keys.js';
import { MemoryStore } from '../../src/caching/memory-store.js';
import type { CacheEntry } from '../../src/caching/store.js';

const keys = new CacheKeys('ns');

function profile(tenantId: number, userId: number, ttlSeconds = 60): CacheEntry {
  return {
    base: keys.value('profile', tenantId, userId),
    scopes: [keys.tenantScope(tenantId), keys.userScope(tenantId, userId)],
    layer: 'query',
    ttlSeconds,
    tenantId,
  };
}

/** The version one scope alone reads as. */
async function versionOf(store: MemoryStore, scope: string): Promise<string> {
  const { version } = await store.read({ base: 'ns:probe', scopes: [scope], layer: 'query', ttlSeconds: 60 });
  return version!;
}

async function write(store: MemoryStore, entry: CacheEntry, value: unknown): Promise<void> {
  const { version } = await store.read(entry);
  expect(await store.write(entry, version!, value)).toBe(true);
}

describe('MemoryStore reads and writes', () => {
  it('reads a version that joins the tenant\'s token, then the entity\'s, with \'.\', and keeps it until a bump', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const entry = profile(7, 1);
    const first = await store.read(entry);
    const tenant = await versionOf(store, keys.tenantScope(7));
    const user = await versionOf(store, keys.userScope(7, 1));
    expect(tenant).not.toBe(user);
    expect(first).toEqual({ version: `${tenant}.${user}` });
    expect(await store.read(entry)).toEqual({ version: `${tenant}.${user}` });
  });

  it('reads one scope\'s version as its token alone', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const tenant = await versionOf(store, keys.tenantScope(7));
    expect(await store.read({ base: 'ns:x', scopes: [keys.tenantScope(7)], layer: 'query', ttlSeconds: 60 })).toEqual({ version: tenant });
    expect(tenant).not.toContain('.');
  });

  it('answers a written value under its version, frozen, and a miss under any other', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const entry = profile(7, 1);
    const { version } = await store.read(entry);
    const value = { id: 1, profile: { bio: 'x' } };
    expect(await store.write(entry, version!, value)).toBe(true);
    expect(await store.read(entry)).toEqual({ version, value });
    expect(Object.isFrozen(value.profile)).toBe(true);
    expect(await store.write(entry, 'another', { id: 2 })).toBe(true);
    // A miss answers the version alone.
    expect(await store.read(entry)).toStrictEqual({ version });
  });

  it('keeps a value for its entry\'s lifetime in seconds', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const lasting = profile(7, 1, 1);
    const brief = profile(7, 2, 0.001);
    await write(store, lasting, 'kept');
    await write(store, brief, 'gone');
    await sleep(30);
    expect((await store.read(lasting)).value).toBe('kept');
    expect((await store.read(brief)).value).toBeUndefined();
  });

  it('keeps maxEntries values and twice as many versions, dropping the least recently used', async () => {
    const store = new MemoryStore({ maxEntries: 2 });
    const scopes = ['ns:version:1', 'ns:version:2', 'ns:version:3', 'ns:version:4'];
    const first = await Promise.all(scopes.map((scope) => versionOf(store, scope)));
    expect(await Promise.all(scopes.map((scope) => versionOf(store, scope)))).toEqual(first);
    await versionOf(store, 'ns:version:5');
    // The fifth version pushed out the least recently read: it comes back as a new token.
    expect(await versionOf(store, scopes[0]!)).not.toBe(first[0]);

    await write(store, { base: 'ns:profile:9:1', scopes: [], layer: 'query', ttlSeconds: 60 }, 1);
    await write(store, { base: 'ns:profile:9:2', scopes: [], layer: 'query', ttlSeconds: 60 }, 2);
    expect(store.keys().filter((key) => key.startsWith('ns:profile:')).sort()).toEqual(['ns:profile:9:1', 'ns:profile:9:2']);
    await write(store, { base: 'ns:profile:9:3', scopes: [], layer: 'query', ttlSeconds: 60 }, 3);
    expect(store.keys().filter((key) => key.startsWith('ns:profile:')).sort()).toEqual(['ns:profile:9:2', 'ns:profile:9:3']);
  });

  it('is ready at once, and keeps nothing once closed', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    expect(store.backend).toBe('memory');
    expect(await store.ready()).toBe(true);
    await write(store, profile(7, 1), 'value');
    expect(store.keys().sort()).toEqual(['ns:profile:7:1', 'ns:version:7', 'ns:version:7:user:1']);
    await store.close();
    expect(store.keys()).toEqual([]);
  });
});

describe('MemoryStore writes in progress', () => {
  it('answers no version while a write to any of the entry\'s scopes runs, and a new one after it ends', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const entry = profile(7, 1);
    await write(store, entry, 'old');
    const before = await store.read(entry);
    const intent = await store.beginWrite([keys.user(7, 1)]);
    expect(await store.read(entry)).toEqual({});
    // Another user's profile is not being written: it still reads.
    expect((await store.read(profile(7, 2))).version).toBeDefined();
    await store.endWrite(intent);
    const after = await store.read(entry);
    expect(after.version).toBeDefined();
    expect(after.version).not.toBe(before.version);
    expect(after.value).toBeUndefined();
  });

  it('marks the tenant\'s own scope too: a tenant-wide write hides every entry of the tenant', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const intent = await store.beginWrite([keys.tenant(7)]);
    expect(await store.read(profile(7, 1))).toEqual({});
    expect((await store.read(profile(8, 1))).version).toBeDefined();
    await store.endWrite(intent);
    expect((await store.read(profile(7, 1))).version).toBeDefined();
  });

  it('keeps a scope marked until the last of its concurrent writes ends', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const entry = profile(7, 1);
    const first = await store.beginWrite([keys.user(7, 1)]);
    const second = await store.beginWrite([keys.user(7, 1)]);
    expect(first.id).not.toBe(second.id);
    expect(first.id).not.toBe('');
    expect(first.targets).toEqual([keys.user(7, 1)]);
    await store.endWrite(first);
    expect(await store.read(entry)).toEqual({});
    await store.endWrite(second);
    expect((await store.read(entry)).version).toBeDefined();
    // The mark is gone for good, not left at zero writers.
    const third = await store.beginWrite([keys.user(7, 1)]);
    await store.endWrite(third);
    expect((await store.read(entry)).version).toBeDefined();
  });

  it('bumps each target\'s version and evicts its values, leaving other entities as they were', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const changed = profile(7, 1);
    const untouched = profile(7, 2);
    await write(store, changed, 'one');
    await write(store, untouched, 'two');
    const tenant = await versionOf(store, keys.tenantScope(7));
    const user = await versionOf(store, keys.userScope(7, 1));
    await store.endWrite(await store.beginWrite([keys.user(7, 1)]));
    expect(await versionOf(store, keys.tenantScope(7))).toBe(tenant);
    expect(await versionOf(store, keys.userScope(7, 1))).not.toBe(user);
    expect(store.keys()).not.toContain(changed.base);
    expect(await store.read(untouched)).toMatchObject({ value: 'two' });
  });

  it('evicts by prefix: a key change evicts every session of the tenant, none of another', async () => {
    const store = new MemoryStore({ maxEntries: 10 });
    const session = (tenantId: number, id: string): CacheEntry => ({
      base: keys.value('session', tenantId, id), scopes: [keys.tenantScope(tenantId), keys.sessionsScope(tenantId)], layer: 'session', ttlSeconds: 60,
    });
    for (const entry of [session(7, 'a'), session(7, 'b'), session(70, 'a')]) await write(store, entry, entry.base);
    await store.endWrite(await store.beginWrite([keys.sessions(7)]));
    expect(store.keys().filter((key) => key.startsWith('ns:session:'))).toEqual(['ns:session:70:a']);
  });

  it('drops every version under a deleted tenant\'s own, which it bumps, and none of another tenant', async () => {
    const store = new MemoryStore({ maxEntries: 20 });
    for (const entry of [profile(7, 1), profile(70, 1)]) await write(store, entry, 'value');
    await versionOf(store, keys.sessionsScope(7));
    const tenant = await versionOf(store, keys.tenantScope(7));
    await store.endWrite(await store.beginWrite([keys.tenant(7)]));
    expect(store.keys().sort()).toEqual(['ns:profile:70:1', 'ns:version:7', 'ns:version:70', 'ns:version:70:user:1']);
    expect(await versionOf(store, keys.tenantScope(7))).not.toBe(tenant);
  });

  it('only makes the versions under a bumped scope unreachable when the write does not drop its tenant', async () => {
    const store = new MemoryStore({ maxEntries: 20 });
    const user = await versionOf(store, keys.userScope(7, 1));
    const { dropTenant: _dropped, ...bumpOnly } = keys.tenant(7);
    await store.endWrite(await store.beginWrite([bumpOnly]));
    expect(await versionOf(store, keys.userScope(7, 1))).toBe(user);
  });
});
