import { beforeAll, describe, expect, it } from 'vitest';
import { toStrataError } from '../../src/api/errors.js';
import { errorCatalogue, StrataError, translateDatabaseError, type ErrorCode } from '../../src/errors.js';
import { checker } from './support/conformance.js';
import { catalogueViolation, checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { openApi, resolve, sample, type OpenApiDocument, type Operation } from './support/openapi.js';
import { seeder } from './support/seed.js';

let api: CheckedApi;
let document: OpenApiDocument;
let operations: Operation[];
let tenant: { id: number; key: string };

beforeAll(async () => {
  api = await checkedApi();
  ({ document, operations } = await openApi(api));
  tenant = await api.tenant('Contract');
});

const isAdminRoute = (operation: Operation) => operation.path.startsWith('/v1/tenants');
/** Routes that answer either kind of key, each with its own view (tests/api/etl-runs.test.ts asserts both). */
const takesEitherKey = (operation: Operation) => operation.path.startsWith('/v1/etl-runs');
const concreteUrl = (operation: Operation) => operation.path.replace(/\{\w+\}/g, '2000000000');

describe('the error catalogue and the OpenAPI document', () => {
  it('lists exactly the catalogue\'s codes in the Error schema\'s enum', () => {
    const error = resolve(document, document.components.schemas.Error!).properties!.error!;
    expect(error.required).toEqual(['code', 'message', 'details']);
    expect([...(error.properties!.code!.enum as string[])].sort()).toEqual(Object.keys(errorCatalogue).sort());
  });

  it('gives each outcome the contract names its status', () => {
    const contract: Partial<Record<ErrorCode, number>> = {
      VALIDATION_FAILED: 400, MALFORMED_JSON: 400, MALFORMED_REQUEST: 400, UNAUTHENTICATED: 401, READ_ONLY_KEY: 403, NOT_FOUND: 404, REQUEST_TIMEOUT: 408,
      CONFLICT: 409, LAST_ACTIVE_KEY: 409, NOT_A_CLUSTER: 409, PAYLOAD_TOO_LARGE: 413, UNSUPPORTED_MEDIA_TYPE: 415, HEADERS_TOO_LARGE: 431, CHECK_VIOLATION: 422, INTEGRITY_VIOLATION: 422, INSUFFICIENT_INVENTORY: 422, IDEMPOTENCY_KEY_REUSED: 422,
      RATE_LIMITED: 429, CLIENT_CLOSED_REQUEST: 499, OVERLOADED: 503,
    };
    for (const [code, status] of Object.entries(contract)) expect({ code, status: errorCatalogue[code as ErrorCode].status }).toEqual({ code, status });
    for (const [code, entry] of Object.entries(errorCatalogue)) {
      expect(code).toMatch(/^[A-Z][A-Z_]+[A-Z]$/);
      expect(entry.status).toBeGreaterThanOrEqual(400);
      expect(entry.message.length).toBeGreaterThan(0);
    }
  });

  it('declares, per operation and error status, the codes that status carries there, and only that status\'s', () => {
    type Responses = Record<string, { content?: { 'application/json'?: { schema: { allOf?: Array<{ properties?: { error?: { properties?: { code?: { enum?: string[] } } } } }> } } } }>;
    const declared = (path: string, method: string, status: string) => {
      const responses = (document.paths[path]![method] as unknown as { responses: Responses }).responses;
      return responses[status]?.content?.['application/json']?.schema.allOf?.[1]?.properties?.error?.properties?.code?.enum;
    };
    let checked = 0;
    for (const [path, methods] of Object.entries(document.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (method === 'head') continue;
        for (const status of Object.keys((operation as unknown as { responses: Responses }).responses).filter((code) => Number(code) >= 400)) {
          const codes = declared(path, method, status) ?? [];
          expect({ path, method, status, codes: codes.length > 0 }).toEqual({ path, method, status, codes: true });
          for (const code of codes) expect({ code, status: errorCatalogue[code as ErrorCode].status }).toEqual({ code, status: Number(status) });
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(300);
    expect(declared('/v1/api-keys/{id}', 'delete', '409')).toEqual(['LAST_ACTIVE_KEY']);
    expect(declared('/v1/users', 'post', '409')).toEqual(['CONFLICT']);
    expect(declared('/v1/products/{id}/inventory/adjust', 'post', '422')).toContain('INSUFFICIENT_INVENTORY');
    expect(declared('/v1/users', 'post', '422')).not.toContain('INSUFFICIENT_INVENTORY');
    expect(declared('/v1/activities', 'post', '503')?.sort()).toEqual(['DATABASE_UNAVAILABLE', 'OVERLOADED']);
  });

  it('fails an answer whose code its status does not declare for that operation', () => {
    const check = checker(document as unknown as Parameters<typeof checker>[0]);
    const answer = (code: string) => ({ statusCode: 409, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code, message: 'm', details: [] } }) });
    expect(check('DELETE', '/v1/api-keys/7', answer('LAST_ACTIVE_KEY') as never)).toBeUndefined();
    expect(check('DELETE', '/v1/api-keys/7', answer('CONFLICT') as never)).toMatch(/does not allow/);
  });

  it('gives every operation a summary and at least one tag', () => {
    expect(operations.length).toBeGreaterThan(30);
    const lacking = operations.filter((operation) => !operation.summary?.trim() || !operation.tags?.length);
    expect(lacking.map((operation) => `${operation.method} ${operation.path}`)).toEqual([]);
  });

  it('gives every operation, /v1 and the operations endpoints, a unique operationId', () => {
    const ids = Object.values(document.paths).flatMap((methods) => Object.values(methods).map((operation) => (operation as { operationId?: string }).operationId));
    expect(ids.filter((id) => typeof id !== 'string')).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    expect(Object.keys(document.paths).filter((path) => !path.startsWith('/v1/')).sort()).toEqual(['/health', '/metrics', '/ready']);
  });

  it('documents bearer authentication on every /v1 operation, none on the probes', () => {
    expect(document.components.securitySchemes?.bearer).toEqual({ type: 'http', scheme: 'bearer' });
    for (const path of ['/health', '/ready']) expect((document.paths[path]!.get as { security?: unknown }).security).toEqual([]);
    for (const operation of operations) {
      expect(operation.path.startsWith('/v1/'), operation.path).toBe(true);
      expect({ route: `${operation.method} ${operation.path}`, security: operation.security ?? document.security })
        .toEqual({ route: `${operation.method} ${operation.path}`, security: [{ bearer: [] }] });
    }
  });

  it('documents every route it serves: each operation answers at its documented method and path', () => {
    for (const operation of operations) {
      expect(api.app.hasRoute({ method: operation.method, url: operation.path.replace(/\{(\w+)\}/g, ':$1') }), `${operation.method} ${operation.path}`).toBe(true);
    }
  });
});

describe('authentication on every /v1 operation', () => {
  it('refuses no key, a malformed key and the wrong kind of key with 401 from the catalogue, and changes nothing', async () => {
    const revoked = await seeder(api).revokedKey(tenant.key);
    await expectUnchanged(api.database, async () => {
      for (const operation of operations) {
        const url = concreteUrl(operation);
        const body = operation.body ? sample(document, operation.body) : undefined;
        const wrongKind = takesEitherKey(operation) ? [] : [isAdminRoute(operation) ? tenant.key : api.adminKey];
        for (const key of [null, 'strata_x', revoked, ...wrongKind]) {
          for (const method of operation.method === 'GET' ? ['GET', 'HEAD'] : [operation.method]) {
            const response = await api.call(method, url, key, body);
            expect(`${method} ${operation.path} → ${response.statusCode}`).toBe(`${method} ${operation.path} → 401`);
            if (method !== 'HEAD') expectError(response, 401, 'UNAUTHENTICATED');
          }
        }
      }
    });
  });

  it('serves /health, /ready, /openapi.json and the OpenAPI UI at /docs without a key', async () => {
    for (const url of ['/health', '/ready', '/openapi.json', '/docs/json']) expect((await api.call('GET', url, null)).statusCode, url).toBe(200);
    expect((await api.call('GET', '/docs', null)).statusCode).toBeLessThan(400);
  });
});

describe('every answer a client can provoke', () => {
  it('is a success or an error with a catalogue code and that code\'s status, on every operation', async () => {
    const exchanges = [];
    for (const operation of operations) {
      const key = isAdminRoute(operation) ? api.adminKey : tenant.key;
      const body = operation.body ? sample(document, operation.body) : undefined;
      const response = await api.uncheckedCall(operation.method, concreteUrl(operation), key, body);
      exchanges.push({ method: operation.method, url: operation.path, status: response.statusCode, body: response.body });
    }
    expect(exchanges.map(catalogueViolation).filter(Boolean)).toEqual([]);
    expect(exchanges.filter((exchange) => exchange.status >= 500)).toEqual([]);
  });

  it('maps every PostgreSQL error a client can cause to its catalogue code', () => {
    const cases: [string, ErrorCode][] = [
      ['23505', 'CONFLICT'], ['23514', 'CHECK_VIOLATION'], ['23503', 'INTEGRITY_VIOLATION'], ['23502', 'VALIDATION_FAILED'],
      ['22P02', 'VALIDATION_FAILED'], ['22003', 'VALIDATION_FAILED'], ['22007', 'VALIDATION_FAILED'], ['22008', 'VALIDATION_FAILED'],
      ['22001', 'VALIDATION_FAILED'], ['22021', 'VALIDATION_FAILED'], ['22P05', 'VALIDATION_FAILED'], ['54000', 'VALIDATION_FAILED'],
      ['54001', 'VALIDATION_FAILED'],
    ];
    for (const [pgCode, code] of cases) {
      const translated = translateDatabaseError({ code: pgCode, message: `pg ${pgCode}` });
      expect({ pgCode, code: (translated as StrataError).code }).toEqual({ pgCode, code });
    }
    const policy = translateDatabaseError({ code: '42501', message: 'new row violates row-level security policy for table "product"' });
    expect((policy as StrataError).code).toBe('NOT_FOUND');
    const outage = { code: '57P01', message: 'terminating connection due to administrator command' };
    expect((translateDatabaseError(outage) as StrataError).code).toBe('DATABASE_UNAVAILABLE');
    const unknown = { code: '42P01', message: 'relation "nowhere" does not exist' };
    expect(translateDatabaseError(unknown)).toBe(unknown);
    expect(toStrataError(unknown).code).toBe('INTERNAL');
  });

  it('maps Fastify\'s own client errors to the catalogue, never to INTERNAL', () => {
    const cases: [Record<string, unknown>, ErrorCode][] = [
      [{ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }, 'MALFORMED_JSON'],
      [{ code: 'FST_ERR_CTP_EMPTY_JSON_BODY', statusCode: 400 }, 'MALFORMED_JSON'],
      [{ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 'PAYLOAD_TOO_LARGE'],
      [{ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }, 'UNSUPPORTED_MEDIA_TYPE'],
      [{ code: 'FST_ERR_CTP_INVALID_CONTENT_LENGTH', statusCode: 400 }, 'VALIDATION_FAILED'],
      [{ code: 'FST_ERR_VALIDATION', statusCode: 400 }, 'VALIDATION_FAILED'],
      [{ code: 'FST_ERR_SOMETHING_NEW', statusCode: 413 }, 'PAYLOAD_TOO_LARGE'],
      [{ code: 'FST_ERR_SOMETHING_NEW', statusCode: 406 }, 'VALIDATION_FAILED'],
    ];
    for (const [fields, code] of cases) {
      expect({ fields, code: toStrataError(Object.assign(new Error('x'), fields)).code }).toEqual({ fields, code });
    }
    const overflow = Object.assign(new RangeError('Maximum call stack size exceeded'), { code: 'FST_ERR_VALIDATION', statusCode: 500 });
    expect(toStrataError(overflow)).toMatchObject({ code: 'VALIDATION_FAILED', message: 'the input is nested too deeply' });
    expect(toStrataError(new TypeError('a bug')).code).toBe('INTERNAL');
  });

  it('answers an unknown route with NOT_FOUND from the catalogue', async () => {
    expectError(await api.call('GET', '/v1/nothing-here', tenant.key), 404, 'NOT_FOUND');
    expectError(await api.call('PUT', '/v1/users', tenant.key, {}), 404, 'NOT_FOUND');
  });
});
