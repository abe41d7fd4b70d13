import { describe, expect, it } from 'vitest';
import {
  errorCatalogue, IrreversibleMigrationError, isDatabaseUnavailable, MAX_ERROR_DETAILS, StrataError,
  translateDatabaseError, type ErrorCode,
} from '../../src/errors.js';

/** A PostgreSQL error as pg reports it. */
const pgError = (code: string, fields: Record<string, string> = {}) => Object.assign(new Error(fields.message ?? `pg ${code}`), { code, ...fields });

const translated = (error: unknown) => translateDatabaseError(error) as StrataError;

describe('the error catalogue', () => {
  it('gives every code an HTTP error status and a sentence a client can show', () => {
    for (const [code, { status, message }] of Object.entries(errorCatalogue)) {
      expect(status, code).toBeGreaterThanOrEqual(400);
      expect(status, code).toBeLessThan(600);
      expect(message, code).toMatch(/^[A-Z].{10,}\.$/);
    }
  });

  it('gives every code its own message', () => {
    const messages = Object.values(errorCatalogue).map(({ message }) => message);
    expect(new Set(messages).size).toBe(messages.length);
  });
});

describe('StrataError', () => {
  it('takes its status and, unless given one, its message from the catalogue', () => {
    for (const code of Object.keys(errorCatalogue) as ErrorCode[]) {
      const error = new StrataError(code);
      expect([error.name, error.code, error.status, error.message, error.details])
        .toEqual(['StrataError', code, errorCatalogue[code].status, errorCatalogue[code].message, []]);
    }
    expect(new StrataError('NOT_FOUND', 'no such user').message).toBe('no such user');
  });

  it('keeps the cause it was given', () => {
    const cause = new Error('underneath');
    expect(new StrataError('INTERNAL', undefined, [], { cause }).cause).toBe(cause);
  });

  it('serializes as { error: { code, message, details } }', () => {
    const error = new StrataError('CONFLICT', 'taken', [{ path: 'email', message: 'already taken', constraint: 'x' }]);
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      error: { code: 'CONFLICT', message: 'taken', details: [{ path: 'email', message: 'already taken', constraint: 'x' }] },
    });
  });

  it(`shows at most ${MAX_ERROR_DETAILS} details and then counts them all; exactly ${MAX_ERROR_DETAILS} carry no count`, () => {
    const details = (count: number) => Array.from({ length: count }, (_, index) => ({ path: `f${index}`, message: 'bad' }));
    const atCap = new StrataError('VALIDATION_FAILED', undefined, details(MAX_ERROR_DETAILS)).toJSON().error;
    expect(atCap.details).toHaveLength(MAX_ERROR_DETAILS);
    expect(atCap).not.toHaveProperty('detailsTotal');
    const over = new StrataError('VALIDATION_FAILED', undefined, details(MAX_ERROR_DETAILS + 5)).toJSON().error;
    expect(over.details.map((detail) => detail.path)).toEqual(details(MAX_ERROR_DETAILS).map((detail) => detail.path));
    expect(over.detailsTotal).toBe(MAX_ERROR_DETAILS + 5);
  });

  it('cuts a detail\'s message and path after 200 characters with an ellipsis, and keeps 200 whole', () => {
    const [long] = new StrataError('VALIDATION_FAILED', undefined, [{ path: 'p'.repeat(201), message: 'm'.repeat(300) }]).toJSON().error.details;
    expect(long).toEqual({ path: `${'p'.repeat(200)}…`, message: `${'m'.repeat(200)}…` });
    const [exact] = new StrataError('VALIDATION_FAILED', undefined, [{ path: 'p'.repeat(200), message: 'm'.repeat(200) }]).toJSON().error.details;
    expect(exact).toEqual({ path: 'p'.repeat(200), message: 'm'.repeat(200) });
  });

  it('adds no path to a detail that has none', () => {
    const [detail] = new StrataError('VALIDATION_FAILED', undefined, [{ message: 'bad' }]).toJSON().error.details;
    expect(detail).toEqual({ message: 'bad' });
  });
});

describe('IrreversibleMigrationError', () => {
  it('names the migration and the reason', () => {
    const error = new IrreversibleMigrationError('0007_drop', 'the data is gone');
    expect([error.name, error.code, error.status, error.message])
      .toEqual(['IrreversibleMigrationError', 'IRREVERSIBLE_MIGRATION', 500, 'migration 0007_drop cannot be undone: the data is gone']);
  });
});

describe('isDatabaseUnavailable', () => {
  it.each(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
    '08000', '08006', '08P01', '57P01', '57P02', '57P03', '57P04', '57P05', '57000', '53300'])('is true for code %s', (code) => {
    expect(isDatabaseUnavailable({ code })).toBe(true);
  });

  it.each(['57014', '57P06', '57P00', '23505', '53200', 'x08006', '08006x', '57P011', 'x57000', '570000'])('is false for code %s', (code) => {
    expect(isDatabaseUnavailable({ code })).toBe(false);
  });

  it.each(['Connection terminated unexpectedly', 'timeout exceeded when trying to connect', 'Client has encountered a connection error and is not queryable',
    'Cannot use a pool after calling end on the pool', 'Client was closed and is not queryable'])('is true for pg\'s "%s"', (message) => {
    expect(isDatabaseUnavailable(new Error(message))).toBe(true);
  });

  it('reads the message from its start only, and ignores a message that is not a string', () => {
    expect(isDatabaseUnavailable(new Error('the query said: Connection terminated'))).toBe(false);
    expect(isDatabaseUnavailable({ message: ['Connection terminated'] })).toBe(false);
    expect(isDatabaseUnavailable({ code: 53300 })).toBe(false);
    expect(isDatabaseUnavailable({ code: 57000 })).toBe(false);
  });

  it('follows cause and AggregateError\'s errors, four levels deep and no further', () => {
    expect(isDatabaseUnavailable(new AggregateError([new Error('other'), { code: 'ECONNREFUSED' }]))).toBe(true);
    expect(isDatabaseUnavailable({ errors: [{ code: '23505' }] })).toBe(false);
    expect(isDatabaseUnavailable({ errors: 'ECONNREFUSED' })).toBe(false);
    const nested = (depth: number): unknown => (depth === 0 ? { code: 'ECONNREFUSED' } : { cause: nested(depth - 1) });
    expect(isDatabaseUnavailable(nested(4))).toBe(true);
    expect(isDatabaseUnavailable(nested(5))).toBe(false);
    expect(isDatabaseUnavailable({ errors: [nested(3)] })).toBe(true);
    expect(isDatabaseUnavailable({ errors: [nested(4)] })).toBe(false);
  });

  it('is false for what is not an object', () => {
    for (const value of [null, undefined, 'ECONNREFUSED', 8006]) expect(isDatabaseUnavailable(value)).toBe(false);
  });
});

describe('translateDatabaseError', () => {
  it('returns a StrataError unchanged, even one caused by a lost connection', () => {
    for (const strata of [new StrataError('NOT_FOUND'), new StrataError('MIGRATION_FAILED', undefined, [], { cause: { code: 'ECONNREFUSED' } })]) {
      expect(translateDatabaseError(strata)).toBe(strata);
    }
  });

  it('returns anything that is not a PostgreSQL error unchanged, and does not touch it', () => {
    const others = [new Error('plain'), { code: 'ABCD' }, { code: 'abcde' }, { code: '23505x' }, { code: 'x23505' }, { code: 23505 },
      Object.assign(() => undefined, { code: '23505' })];
    for (const other of others) {
      const keys = Object.keys(other);
      expect(translateDatabaseError(other)).toBe(other);
      expect(Object.keys(other)).toEqual(keys);
    }
    for (const value of ['text', null]) expect(translateDatabaseError(value)).toBe(value);
  });

  it('maps an unreachable database to DATABASE_UNAVAILABLE, keeping the cause', () => {
    const error = pgError('57P01');
    expect(translated(error)).toMatchObject({ code: 'DATABASE_UNAVAILABLE', message: errorCatalogue.DATABASE_UNAVAILABLE.message, details: [], cause: error });
  });

  it.each([['23505', 'CONFLICT', 'a unique value is already taken'], ['23514', 'CHECK_VIOLATION', 'the change breaks a data rule'],
    ['23503', 'INTEGRITY_VIOLATION', 'refers to a row that does not exist']] as const)('maps %s to %s with the constraint\'s detail', (code, strataCode, fallback) => {
    const error = pgError(code, { constraint: 'app_user_tenant_email_key' });
    expect(translated(error)).toMatchObject({ code: strataCode, message: errorCatalogue[strataCode].message, cause: error,
      details: [{ path: 'email', message: 'already taken in this tenant' }] });
    expect(translated(pgError(code, { constraint: 'unknown_constraint' })).details).toEqual([{ path: '(root)', message: fallback }]);
  });

  it('reads the constraint and column from a relayed message that lacks the fields, and keeps fields already set', () => {
    expect(translated(pgError('23505', { message: 'duplicate key value violates unique constraint "app_user_tenant_email_key_102008"' })).details)
      .toEqual([{ path: 'email', message: 'already taken in this tenant' }]);
    expect(translated(pgError('23502', { message: 'null value in column "display_name" of relation "app_user_102008" violates not-null constraint' })).details)
      .toEqual([{ path: 'displayName', message: 'is required' }]);
    expect(translated(pgError('23505', { constraint: 'app_user_tenant_email_key', message: 'constraint "other_key"' })).details)
      .toEqual([{ path: 'email', message: 'already taken in this tenant' }]);
    expect(translated(pgError('23502', { column: 'email', message: 'value in column "other"' })).details).toEqual([{ path: 'email', message: 'is required' }]);
  });

  it('names a missing value in camelCase without the row, or the root when no column is known', () => {
    const error = pgError('23502', { column: 'display_name_2', detail: 'Failing row contains (1, secret)' });
    expect(translated(error)).toMatchObject({ code: 'VALIDATION_FAILED', message: 'displayName2 is required',
      details: [{ path: 'displayName2', message: 'is required' }], cause: error });
    expect(translated(pgError('23502', { message: 'null value' }))).toMatchObject({ message: '(root) is required', details: [{ path: '(root)', message: 'is required' }] });
  });

  it.each(['22P02', '22009', '22015', '22003', '22007', '22008', '22001'])('maps bad input %s to VALIDATION_FAILED with PostgreSQL\'s words', (code) => {
    const error = pgError(code, { message: 'invalid input syntax', detail: 'the detail', column: 'price' });
    expect(translated(error)).toMatchObject({ code: 'VALIDATION_FAILED', message: 'invalid input syntax', details: [{ path: 'price', message: 'the detail' }], cause: error });
    expect(translated(pgError(code, { message: 'out of range' })).details).toStrictEqual([{ message: 'out of range' }]);
  });

  it.each(['22021', '22P05'])('maps NUL (%s) to VALIDATION_FAILED saying so', (code) => {
    const error = pgError(code, { message: 'invalid byte sequence', column: 'bio' });
    expect(translated(error)).toMatchObject({ code: 'VALIDATION_FAILED', message: 'text must not contain NUL characters', details: [{ path: 'bio', message: 'invalid byte sequence' }], cause: error });
  });

  it.each(['54000', '54001'])('maps a limit (%s) to VALIDATION_FAILED saying so', (code) => {
    const error = pgError(code, { message: 'stack depth limit exceeded' });
    expect(translated(error)).toMatchObject({ code: 'VALIDATION_FAILED', message: 'the input is nested too deeply or too large', details: [{ message: 'stack depth limit exceeded' }], cause: error });
  });

  it('maps a row-level security refusal to NOT_FOUND and leaves any other refused privilege alone', () => {
    const refused = pgError('42501', { message: 'new row violates row-level security policy for table "app_user"' });
    expect(translated(refused)).toMatchObject({ code: 'NOT_FOUND', message: errorCatalogue.NOT_FOUND.message, details: [], cause: refused });
    const privilege = pgError('42501', { message: 'permission denied for table app_user' });
    expect(translateDatabaseError(privilege)).toBe(privilege);
  });

  it('leaves a PostgreSQL error it has no mapping for unchanged', () => {
    const error = pgError('42P01', { message: 'relation does not exist' });
    expect(translateDatabaseError(error)).toBe(error);
  });
});
