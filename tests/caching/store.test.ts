import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CacheKeys } from '../../src/caching/keys.js';
import { deepFreeze, NoStore, TokenSource, VersionedEntries } from '../../src/caching/store.js';

describe('deepFreeze', () => {
  it('freezes an object, its arrays and their objects, and returns the same value', () => {
    const value = { user: { id: 1, tags: ['a', { deep: true }] }, list: [{ n: 1 }] };
    expect(deepFreeze(value)).toBe(value);
    for (const part of [value, value.user, value.user.tags, value.user.tags[1], value.list, value.list[0]]) expect(Object.isFrozen(part)).toBe(true);
  });

  it('returns primitives and null as they are', () => {
    for (const primitive of [null, undefined, 0, 1, '', 'text', true]) expect(deepFreeze(primitive)).toBe(primitive);
  });

  it('leaves functions alone: only objects and arrays are frozen', () => {
    const load = () => 1;
    const value = { load };
    deepFreeze(value);
    expect(Object.isFrozen(value)).toBe(true);
    expect(Object.isFrozen(load)).toBe(false);
  });

  it('stops at a value already frozen: neither it nor anything under it is walked again', () => {
    const child = { changeable: true };
    const outer = Object.freeze({ child });
    deepFreeze(outer);
    expect(Object.isFrozen(child)).toBe(false);
  });

  it('freezes a value that contains itself', () => {
    const cyclic: { self?: unknown; list: unknown[] } = { list: [] };
    cyclic.self = cyclic;
    cyclic.list.push(cyclic);
    expect(deepFreeze(cyclic)).toBe(cyclic);
    expect(Object.isFrozen(cyclic.list)).toBe(true);
  });
});

describe('TokenSource', () => {
  it('gives tokens of one random instance part followed by a counter from 1 in base 36', () => {
    const source = new TokenSource();
    const tokens = Array.from({ length: 40 }, () => source.next());
    const prefix = tokens[0]!.slice(0, -1);
    // Four random bytes in base64url.
    expect(prefix).toMatch(/^[A-Za-z0-9_-]{6}$/);
    expect(tokens).toEqual(Array.from({ length: 40 }, (_, index) => `${prefix}${(index + 1).toString(36)}`));
    expect(tokens[35]).toBe(`${prefix}10`);
  });

  it('never gives a token another source gave: each source has its own random part', () => {
    const one = new TokenSource();
    const other = new TokenSource();
    expect(one.next().slice(0, 6)).not.toBe(other.next().slice(0, 6));
  });
});

describe('VersionedEntries', () => {
  const keys = new CacheKeys('ns');

  function filled(bases: string[]): VersionedEntries {
    const entries = new VersionedEntries(100);
    for (const base of bases) entries.set(base, 'v1', base, 60_000);
    return entries;
  }

  it('answers a value only under the version it was stored with', () => {
    const entries = filled(['ns:profile:7:1']);
    expect(entries.get('ns:profile:7:1', 'v1')).toBe('ns:profile:7:1');
    expect(entries.get('ns:profile:7:1', 'v2')).toBeUndefined();
    expect(entries.get('ns:profile:7:2', 'v1')).toBeUndefined();
    expect(entries.versionOf('ns:profile:7:1')).toBe('v1');
    expect(entries.versionOf('ns:profile:7:2')).toBeUndefined();
  });

  it('keeps one copy per key: a store under a new version replaces the old one', () => {
    const entries = filled(['ns:profile:7:1']);
    entries.set('ns:profile:7:1', 'v2', 'newer', 60_000);
    expect(entries.get('ns:profile:7:1', 'v1')).toBeUndefined();
    expect(entries.get('ns:profile:7:1', 'v2')).toBe('newer');
    expect(entries.keys()).toEqual(['ns:profile:7:1']);
  });

  it('keeps at most its maximum, dropping the least recently used; versionOf does not count as a use', () => {
    const entries = new VersionedEntries(2);
    entries.set('a', 'v', 'a', 60_000);
    entries.set('b', 'v', 'b', 60_000);
    expect(entries.versionOf('a')).toBe('v');
    entries.set('c', 'v', 'c', 60_000);
    expect(entries.keys().sort()).toEqual(['b', 'c']);
  });

  it('drops a value once its lifetime has passed', async () => {
    const entries = new VersionedEntries(10);
    entries.set('short', 'v', 'gone', 5);
    entries.set('long', 'v', 'kept', 60_000);
    await sleep(50);
    expect(entries.get('short', 'v')).toBeUndefined();
    expect(entries.get('long', 'v')).toBe('kept');
  });

  it('evicts an exact key alone, not the keys it is a prefix of', () => {
    const entries = filled(['ns:profile:7:4', 'ns:profile:7:42', 'ns:profile:7:4:x', 'ns:profile:8:4']);
    entries.evict([keys.value('profile', 7, 4)]);
    expect(entries.keys().sort()).toEqual(['ns:profile:7:42', 'ns:profile:7:4:x', 'ns:profile:8:4']);
  });

  it('evicts every key under a prefix ending in \':\', and no key of another tenant', () => {
    const entries = filled(['ns:session:7:a', 'ns:session:7:b', 'ns:session:70:a', 'ns:profile:7:1', 'x:ns:session:7:a']);
    entries.evict(['ns:session:7:']);
    expect(entries.keys().sort()).toEqual(['ns:profile:7:1', 'ns:session:70:a', 'x:ns:session:7:a']);
  });

  it('evicts under each of several prefixes, and exact keys beside them', () => {
    const entries = filled(['ns:analytics:7:a', 'ns:response:7:b', 'ns:profile:7:1', 'ns:profile:7:2', 'ns:session:7:c']);
    entries.evict(['ns:analytics:7:', 'ns:profile:7:1', 'ns:response:7:']);
    expect(entries.keys().sort()).toEqual(['ns:profile:7:2', 'ns:session:7:c']);
  });

  it('evicts nothing for an empty list, and clear() drops everything', () => {
    const entries = filled(['ns:profile:7:1', 'ns:session:7:a']);
    entries.evict([]);
    expect(entries.keys().sort()).toEqual(['ns:profile:7:1', 'ns:session:7:a']);
    entries.clear();
    expect(entries.keys()).toEqual([]);
  });
});

describe('NoStore', () => {
  it('misses every read, keeps nothing, and marks no write', async () => {
    const store = new NoStore();
    const target = new CacheKeys('ns').user(7, 1);
    expect(store.backend).toBe('none');
    expect(await store.read()).toEqual({});
    expect(await store.write()).toBe(false);
    expect(await store.beginWrite([target])).toEqual({ id: '', targets: [target] });
    await store.endWrite();
    expect(await store.ready()).toBe(true);
    await store.close();
  });
});
