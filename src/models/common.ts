import { z } from 'zod';
import { MAX_ERROR_DETAILS } from '../errors.js';

/** The most rows one ingest batch may carry. */
export const MAX_BATCH_ROWS = 10_000;

/** Identifiers are bigint in PostgreSQL and JSON numbers at the edge: safe below 2^53. */
export const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const slug = z.string().min(1).max(63).regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'lowercase letters, digits and inner dashes');
/**
 * PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate would be stored as U+FFFD: either way
 * the value read back would differ from the one sent, so both are refused with the field named.
 */
// The first test scans for any NUL or surrogate without the unicode flag, several times faster; only
// a string that has one (rare) pays for telling a lone surrogate from a pair.
// eslint-disable-next-line no-control-regex -- NUL is what it looks for: PostgreSQL text cannot store it
const nulOrSurrogate = /[\u0000\uD800-\uDFFF]/;
// eslint-disable-next-line no-control-regex -- as above
const nulOrLoneSurrogate = /\u0000|\p{Cs}/u;

export function isStorableString(value: string): boolean {
  return !nulOrSurrogate.test(value) || !nulOrLoneSurrogate.test(value);
}

const storableMessage = 'must not contain NUL characters or unpaired surrogates';
export const name = z.string().trim().min(1).max(200).refine(isStorableString, storableMessage);
export const text = (max: number) => z.string().max(max).refine(isStorableString, storableMessage);

function unstorable(text: string): string | undefined {
  if (isStorableString(text)) return undefined;
  // A surrogate half without its partner: the driver would write U+FFFD, so the value read back differs.
  return text.includes('\u0000') ? 'must not contain NUL characters' : 'must be well-formed Unicode (no lone surrogates)';
}

/** Where a value sits: its key and its parent's place, so a path is spelled out only for a value reported. */
interface Place {
  parent: Place | undefined;
  key: PropertyKey;
}

function pathOf(place: Place | undefined): PropertyKey[] {
  const path: PropertyKey[] = [];
  for (let current = place; current; current = current.parent) path.push(current.key);
  return path.reverse();
}

/**
 * A zod refinement over a whole request body: every string in it, keys included, must be text
 * PostgreSQL stores exactly as sent. Iterative, and linear in the body's size: copying the path at
 * every level made a body nested 100,000 deep take minutes.
 */
export function refuseUnstorableText(value: unknown, context: z.RefinementCtx): void {
  // Past the details an error shows, problems are only counted: each zod issue costs microseconds
  // in every layer after, and 100,000 of them held the event loop for over a second.
  let reported = 0;
  let unreported = 0;
  const report = (message: string, place: Place | undefined) => {
    if (reported === MAX_ERROR_DETAILS) {
      unreported++;
      return;
    }
    reported++;
    context.addIssue({ code: 'custom', message, path: pathOf(place) });
  };
  const pending: [unknown, Place | undefined][] = [[value, undefined]];
  while (pending.length > 0) {
    const [current, place] = pending.pop()!;
    if (typeof current === 'string') {
      const problem = unstorable(current);
      if (problem) report(problem, place);
    } else if (current !== null && typeof current === 'object') {
      // Pushed last to first, so that values are checked, and problems reported, in the body's order.
      const entries = Object.entries(current as Record<string, unknown>);
      for (let index = entries.length - 1; index >= 0; index--) {
        const [key, inner] = entries[index]!;
        const here = { parent: place, key };
        const problem = unstorable(key);
        if (problem) report(`key ${problem}`, here);
        pending.push([inner, here]);
      }
    }
  }
  if (unreported > 0) context.addIssue({ code: 'custom', message: `and ${unreported} more strings PostgreSQL cannot store as sent`, path: [] });
}
