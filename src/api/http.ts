import { z } from 'zod';
import { StrataError } from '../errors.js';
import { camel, type ApiNames } from '../models/api-spelling.js';

export const MAX_PAGE_SIZE = 500;

/**
 * A path id, in its one canonical spelling: plain coercion would also read ' 1', '1.0', '1e0' and
 * '0x1' as row 1, so one row would answer to many URLs. Safe below 2^53, as ids are everywhere.
 */
export const idParam = z.string().regex(/^[1-9][0-9]*$/, 'must be a positive integer in decimal digits')
  .transform(Number).pipe(z.number().max(Number.MAX_SAFE_INTEGER, 'must be at most 2^53 - 1'));
export const idParams = z.strictObject({ id: idParam });

export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(50),
  cursor: z.string().max(200).optional(),
};

/** Cursors are opaque to clients: base64url of the last key seen. */
export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

export function decodeCursor<T>(cursor: string | undefined, schema: z.ZodType<T>): T | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // falls through to the same error as a well-formed but foreign cursor
  }
  throw new StrataError('VALIDATION_FAILED', 'cursor is not valid', [{ path: 'cursor', message: 'not a cursor returned by this API' }]);
}

export const idCursor = z.number().int().positive();

export { refuseUnstorableText } from '../models/common.js';

/** A page of rows and the cursor of the next page (null on the last). */
export function page<T extends object>(rows: T[], limit: number, keyOf: (row: T) => unknown, present: (row: T) => unknown = toApi) {
  const last = rows.length === limit ? rows[rows.length - 1] : undefined;
  return { data: rows.map(present), nextCursor: last === undefined ? null : encodeCursor(keyOf(last)) };
}

export const hiddenColumns = new Set(['tenant_id', 'search', 'key_hash', 'ingest_xid']);

export interface Presentation {
  /** Columns the API names otherwise than in camelCase (declared beside the model). */
  names?: ApiNames;
  /** Columns holding a related row, presented the same way; every other value is data, shown as stored. */
  nested?: readonly string[];
}

/**
 * Database rows are snake_case; the API speaks camelCase and never shows tenant_id or internals. A
 * JSON value (metadata, settings, an audit's old and new values) is the client's data and keeps its keys.
 */
export function presenter(presentation: Presentation) {
  return (row: object): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(row)) {
      if (hiddenColumns.has(key)) continue;
      const nested = presentation.nested?.includes(key) && value !== null && typeof value === 'object';
      out[presentation.names?.[key] ?? camel(key)] = nested ? toApi(value as object) : value;
    }
    return out;
  };
}

/** A row as the API shows it, every column a value of its own. */
export const toApi = presenter({});
