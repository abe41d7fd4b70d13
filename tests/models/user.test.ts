import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyMergePatch, settingsObject, type Settings } from '../../src/models/user.js';

describe('applyMergePatch (RFC 7396)', () => {
  // The examples of RFC 7396 appendix A whose target and patch are objects, plus a nested array target.
  const examples: [Settings, Settings, Settings][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [{ x: [1, 2] }, { x: { a: 'b', c: null } }, { x: { a: 'b' } }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];

  it.each(examples)('merges %j with %j into %j', (target, patch, expected) => {
    expect(applyMergePatch(target, patch)).toEqual(expected);
  });

  it('leaves the target untouched', () => {
    const target = { a: { b: 1 } };
    applyMergePatch(target, { a: { b: 2, c: 3 } });
    expect(target).toEqual({ a: { b: 1 } });
  });

  it('keeps a key named __proto__ as data instead of changing the prototype', () => {
    const merged = applyMergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}') as Settings);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  const json = fc.jsonValue({ maxDepth: 3 });
  const object = fc.dictionary(fc.string({ maxLength: 3 }), json, { maxKeys: 5 }) as fc.Arbitrary<Settings>;

  it('is idempotent: applying a patch twice equals applying it once', () => {
    fc.assert(fc.property(object, object, (target, patch) => {
      const once = applyMergePatch(target, patch);
      expect(applyMergePatch(once, patch)).toEqual(once);
    }));
  });

  it('removes every key the patch sets to null and keeps every other key of the patch', () => {
    fc.assert(fc.property(object, object, (target, patch) => {
      const merged = applyMergePatch(target, patch);
      for (const [key, value] of Object.entries(patch)) {
        expect(Object.hasOwn(merged, key)).toBe(value !== null);
      }
    }));
  });
});

describe('settingsObject', () => {
  it('accepts nested JSON objects and refuses arrays, non-JSON numbers and NUL characters', () => {
    expect(settingsObject.safeParse({ a: { b: [1, 'x', null, true] } }).success).toBe(true);
    for (const value of [[1], 'text', null, { n: Number.POSITIVE_INFINITY }, { s: 'a\u0000' }, { deep: [{ s: '\u0000' }] }]) {
      expect(settingsObject.safeParse(value).success, JSON.stringify(value)).toBe(false);
    }
  });
});
