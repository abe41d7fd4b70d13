import { constraintDetail } from './constraint-details.js';

/**
 * The one catalogue of errors Strata reports. Every code is stable: clients, the CLI and tests
 * match on it. Database errors are translated here and nowhere else.
 */
export const errorCatalogue = {
  VALIDATION_FAILED: { status: 400, message: 'The input is not valid.' },
  MALFORMED_JSON: { status: 400, message: 'The request body is not valid JSON.' },
  MALFORMED_REQUEST: { status: 400, message: 'The request is not valid HTTP.' },
  UNAUTHENTICATED: { status: 401, message: 'A valid API key is required.' },
  READ_ONLY_KEY: { status: 403, message: 'This API key is read-only: it can only GET and HEAD.' },
  NOT_FOUND: { status: 404, message: 'The resource does not exist.' },
  REQUEST_TIMEOUT: { status: 408, message: 'The request was not received in time.' },
  CONFLICT: { status: 409, message: 'A resource with the same unique value already exists.' },
  LAST_ACTIVE_KEY: { status: 409, message: 'The tenant\'s last active read-write API key cannot be revoked.' },
  NOT_A_CLUSTER: { status: 409, message: 'The database is not on a Citus cluster.' },
  PAYLOAD_TOO_LARGE: { status: 413, message: 'The request body or batch is too large.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'The request body must be application/json.' },
  CHECK_VIOLATION: { status: 422, message: 'The change violates a data rule.' },
  INTEGRITY_VIOLATION: { status: 422, message: 'The change refers to a row that does not exist.' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, message: 'The Idempotency-Key was already used with a different request.' },
  INSUFFICIENT_INVENTORY: { status: 422, message: 'The adjustment would take the quantity below zero.' },
  HEADERS_TOO_LARGE: { status: 431, message: 'The request headers are too large (16 KB at most).' },
  RATE_LIMITED: { status: 429, message: 'Too many requests for this API key; retry after the Retry-After header\'s seconds.' },
  // nginx's status for a client that left before its answer: logged, never seen by that client.
  CLIENT_CLOSED_REQUEST: { status: 499, message: 'The client closed the connection before the answer; nothing was committed.' },
  IRREVERSIBLE_MIGRATION: { status: 500, message: 'The migration cannot be undone.' },
  MIGRATION_FAILED: { status: 500, message: 'A migration failed.' },
  EMBEDDED_DATABASE_UNAVAILABLE: { status: 503, message: 'The embedded PostgreSQL server could not start.' },
  DATABASE_UNAVAILABLE: { status: 503, message: 'The database is not reachable.' },
  OVERLOADED: { status: 503, message: 'The server is at its ingest capacity; retry after the Retry-After header\'s seconds.' },
  INTERNAL: { status: 500, message: 'An unexpected error occurred.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

export interface ErrorDetail {
  path?: string;
  message: string;
  [key: string]: unknown;
}

export class StrataError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details: ErrorDetail[] = [],
    options?: { cause?: unknown },
  ) {
    super(message ?? errorCatalogue[code].message, options);
    this.name = 'StrataError';
    this.status = errorCatalogue[code].status;
  }

  toJSON() {
    return { error: { code: this.code, message: this.message, ...boundedDetails(this.details) } };
  }
}

/** An error body names this many problems at most: one request can hold 100,000 unknown keys. */
export const MAX_ERROR_DETAILS = 20;
const MAX_DETAIL_TEXT = 200;

const bounded = (text: string) => (text.length > MAX_DETAIL_TEXT ? `${text.slice(0, MAX_DETAIL_TEXT)}…` : text);

/** The first details, their texts cut short (a key may be a megabyte long), and the full count when some are left out. */
function boundedDetails(details: ErrorDetail[]): { details: ErrorDetail[]; detailsTotal?: number } {
  const shown = details.slice(0, MAX_ERROR_DETAILS).map((detail) => ({
    ...detail,
    message: bounded(detail.message),
    ...(typeof detail.path === 'string' ? { path: bounded(detail.path) } : {}),
  }));
  return details.length > shown.length ? { details: shown, detailsTotal: details.length } : { details: shown };
}

export class IrreversibleMigrationError extends StrataError {
  constructor(migration: string, reason: string) {
    super('IRREVERSIBLE_MIGRATION', `migration ${migration} cannot be undone: ${reason}`);
    this.name = 'IrreversibleMigrationError';
  }
}

interface PgError {
  code?: string;
  constraint?: string;
  detail?: string;
  column?: string;
  table?: string;
  message: string;
}

function isPgError(error: unknown): error is PgError {
  return typeof error === 'object' && error !== null && typeof (error as PgError).code === 'string'
    && /^[0-9A-Z]{5}$/.test((error as PgError).code ?? '');
}

// What node and pg report when no server answers: the socket refused, reset or timed out, and pg's
// own words for a connection that ended or a pool that could not connect in time.
const unreachableSocketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const lostConnectionMessages = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end|Client was closed and is not queryable)/;

/**
 * True for an error that says the database cannot be reached right now, not that the request was
 * wrong: a refused or lost connection, SQLSTATE class 08 (connection exception), class 57 (the
 * server is shutting down, restarting or ended the session: 57P01-57P05, but not 57014, a
 * cancelled statement) and 53300 (no connection slot left). Follows `cause`, and AggregateError's
 * `errors` (a host name with two addresses).
 */
export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (typeof error !== 'object' || error === null || depth > 4) return false;
  const { code, message, cause, errors } = error as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && (unreachableSocketCodes.has(code) || /^(08[0-9A-Z]{3}|57P0[1-5]|57000)$/.test(code) || code === '53300')) return true;
  if (typeof message === 'string' && lostConnectionMessages.test(message)) return true;
  if (Array.isArray(errors) && errors.some((inner) => isDatabaseUnavailable(inner, depth + 1))) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}

/**
 * A missing value, named as the API spells the field. PostgreSQL's own detail ("Failing row
 * contains (…)") would hand the caller every other value of the row.
 */
function notNullViolation(error: PgError): StrataError {
  const path = error.column?.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase()) ?? '(root)';
  return new StrataError('VALIDATION_FAILED', `${path} is required`, [{ path, message: 'is required' }], { cause: error });
}

/**
 * A Citus coordinator relays a worker's error with its code and message but without the
 * constraint and column fields; both are named in the message, so they are read back from it.
 */
function recoverRelayedFields(error: PgError & { message?: string }): void {
  const message = error.message ?? '';
  error.constraint ??= /constraint "([^"]+)"/.exec(message)?.[1];
  error.column ??= /value in column "([^"]+)"/.exec(message)?.[1];
}

/** Translates a PostgreSQL error into the catalogue; anything else is returned unchanged. */
export function translateDatabaseError(error: unknown): unknown {
  if (error instanceof StrataError) return error;
  if (isDatabaseUnavailable(error)) return new StrataError('DATABASE_UNAVAILABLE', undefined, [], { cause: error });
  if (!isPgError(error)) return error;
  recoverRelayedFields(error);
  const detail: ErrorDetail = { message: error.detail ?? error.message };
  if (error.column) detail.path = error.column;
  switch (error.code) {
    case '23505':
      return new StrataError('CONFLICT', undefined, [constraintDetail(error.code, error.constraint)], { cause: error });
    case '23514':
      return new StrataError('CHECK_VIOLATION', undefined, [constraintDetail(error.code, error.constraint)], { cause: error });
    case '23503':
      return new StrataError('INTEGRITY_VIOLATION', undefined, [constraintDetail(error.code, error.constraint)], { cause: error });
    case '23502':
      return notNullViolation(error);
    case '22P02':
    case '22009':
    case '22015':
    case '22003':
    case '22007':
    case '22008':
    case '22001':
      return new StrataError('VALIDATION_FAILED', error.message, [detail], { cause: error });
    // NUL reaches a text column as 22021 and a jsonb value as 22P05: PostgreSQL can store neither.
    case '22021':
    case '22P05':
      return new StrataError('VALIDATION_FAILED', 'text must not contain NUL characters', [detail], { cause: error });
    // A value nested deeper than the server's stack allows (54001) or past another hard limit (54000).
    case '54000':
    case '54001':
      return new StrataError('VALIDATION_FAILED', 'the input is nested too deeply or too large', [detail], { cause: error });
    case '42501':
      // A write outside the tenant's policy: to the caller the row does not exist. Any other
      // refused privilege is a defect of ours, not something the caller did, and stays unmapped.
      return error.message.includes('row-level security') ? new StrataError('NOT_FOUND', undefined, [], { cause: error }) : error;
    default:
      return error;
  }
}
