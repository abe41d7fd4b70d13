import type { FastifyInstance, FastifyRequest } from 'fastify';
import { StrataError } from '../errors.js';

/**
 * The deepest a request body may nest. The deepest legitimate body is a jsonb field (32 levels, see
 * models/activity.ts) inside a batch item, 35 levels in all; 64 leaves room without letting any walk
 * over the parsed body meet thousands of levels.
 */
export const MAX_BODY_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Whether JSON text nests deeper than `max`, in one pass over its characters and without recursion:
 * brackets inside strings do not count. Malformed text is left to JSON.parse to report.
 */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (char === QUOTE) {
      // indexOf skips a string's contents natively: most of a body's bytes are in its strings.
      let end = text.indexOf('"', index + 1);
      while (end !== -1 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end === -1) return false;
      index = end;
    } else if (char === OPEN_BRACE || char === OPEN_BRACKET) {
      if (++depth > max) return true;
    } else if (char === CLOSE_BRACE || char === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** A quote preceded by an odd run of backslashes is part of the string. */
function isEscaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let index = quote - 1; text.charCodeAt(index) === BACKSLASH; index--) backslashes++;
  return backslashes % 2 === 1;
}

/** An empty body is no body when the route takes none (a DELETE sent with a JSON content type). */
const takesNoBody = (request: FastifyRequest) => request.routeOptions.schema?.body === undefined;

/**
 * Replaces Fastify's JSON parser with one that refuses a body nested deeper than MAX_BODY_DEPTH
 * before JSON.parse: every later walk (validation, the storable-text check, casing) then meets at
 * most that many levels, so no body within the size limit can hold the event loop for long.
 */
export function registerJsonBodyParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (text.length === 0 && takesNoBody(request)) {
      done(null, undefined);
    } else if (nestsDeeperThan(text, MAX_BODY_DEPTH)) {
      done(new StrataError('VALIDATION_FAILED', 'the body is nested too deeply', [
        { path: '(root)', message: `must nest at most ${MAX_BODY_DEPTH} levels deep` },
      ]), undefined);
    } else {
      void parseJson(request, text, done);
    }
  });
}
