import { monitorEventLoopDelay } from 'node:perf_hooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_DEPTH } from '../../src/api/json-body.js';
import { MAX_ERROR_DETAILS, type ErrorCode } from '../../src/errors.js';
import { catalogueViolation, checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { expectUnchanged } from './support/db-snapshot.js';
import { openApi, resolve, type OpenApiDocument, type Operation } from './support/openapi.js';
import { seeder } from './support/seed.js';

let api: CheckedApi;
let document: OpenApiDocument;
let operations: Operation[];
let tenant: { id: number; key: string };
let userId: number;

beforeAll(async () => {
  api = await checkedApi();
  ({ document, operations } = await openApi(api));
  tenant = await api.tenant('Hostile bodies');
  userId = (await seeder(api).user(tenant.key)).id;
});

const deepObject = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
const deepArray = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
/** `count` keys no route knows, each holding a NUL: refused by strict objects and by settings alike. */
const manyKeys = (count: number) => `{${Array.from({ length: count }, (_, index) => `"k${index}":"\\u0000"`).join(',')}}`;

/** Worst cases within (and just past) the body limits; `field` is a property the route's body has. */
function hostileBodies(field: string): [label: string, payload: string][] {
  return [
    ['object 100,000 deep', deepObject(100_000)],
    ['object 500,000 deep (2.5 MB)', deepObject(500_000)],
    ['array 100,000 deep', deepArray(100_000)],
    ['array 500,000 deep (1 MB)', deepArray(500_000)],
    ['a field nested 100,000 deep', `{"${field}":${deepObject(100_000)}}`],
    ['70,000 unknown keys holding NUL (1 MB)', manyKeys(70_000)],
    ['100,000 NUL strings in a field', `{"${field}":[${Array(100_000).fill('"\\u0000"').join(',')}]}`],
    ['a 1 MB string ending in NUL', `{"${field}":"${'x'.repeat(1_000_000)}\\u0000"}`],
  ];
}

const refusals = new Set<ErrorCode>(['VALIDATION_FAILED', 'MALFORMED_JSON', 'PAYLOAD_TOO_LARGE']);
/** Twenty details of at most 200 characters each, and the envelope: far below what was sent. */
const MAX_ERROR_BODY = 8_192;

const routeOf = (operation: Operation) => `${operation.method} ${operation.path}`;
const keyFor = (operation: Operation) => (operation.path.startsWith('/v1/tenants') ? api.adminKey : tenant.key);
const urlOf = (operation: Operation) => operation.path.replace(/\{(\w+)\}/g, (_, name: string) => (name === 'id' || name === 'userId' ? String(userId) : '1'));

function firstField(operation: Operation): string {
  return Object.keys(resolve(document, operation.body!).properties ?? {})[0] ?? 'settings';
}

describe('hostile bodies on every route that takes JSON', () => {
  it('are refused with 400 or 413 from the catalogue and a bounded error body, without stalling the event loop', async () => {
    const jsonRoutes = operations.filter((operation) => operation.body);
    expect(jsonRoutes.map(routeOf)).toEqual(expect.arrayContaining(['PATCH /v1/users/{id}/settings', 'POST /v1/users', 'POST /v1/activities', 'POST /v1/events']));
    const requests = jsonRoutes.flatMap((operation) => hostileBodies(firstField(operation))
      .map(([label, payload]) => ({ where: `${routeOf(operation)} [${label}]`, operation, payload })));
    const broken: string[] = [];
    const delay = monitorEventLoopDelay({ resolution: 10 });
    await expectUnchanged(api.database, async () => {
      delay.enable();
      for (const { where, operation, payload } of requests) {
        const [response, health] = await Promise.all([
          api.uncheckedCall(operation.method, urlOf(operation), keyFor(operation), payload, { 'content-type': 'application/json' }),
          api.uncheckedCall('GET', '/health', null),
        ]);
        const code = response.statusCode < 500 ? (JSON.parse(response.body) as { error?: { code?: ErrorCode } }).error?.code : undefined;
        const violation = catalogueViolation({ method: operation.method, url: urlOf(operation), status: response.statusCode, body: response.body });
        const outcome = { status: response.statusCode, refused: code !== undefined && refusals.has(code), bounded: response.body.length <= MAX_ERROR_BODY, health: health.statusCode };
        if (violation || !outcome.refused || !outcome.bounded || outcome.health !== 200) broken.push(`${where}: ${JSON.stringify(outcome)} ${violation ?? response.body.slice(0, 160)}`);
      }
      delay.disable();
    });
    expect(broken).toEqual([]);
    // Generous: before the depth check, one 20,000-deep body held the loop for 2.6 s, a 100,000-deep one for 113 s.
    expect(delay.max / 1e6).toBeLessThan(1_000);
  });

  it('names the first problems of a body with 100,000 unstorable strings and counts the rest', async () => {
    const response = await api.call('PATCH', `/v1/users/${userId}/settings`, tenant.key, `{"k":[${Array(100_000).fill('"\\u0000"').join(',')}]}`, { 'content-type': 'application/json' });
    const error = expectError(response, 400, 'VALIDATION_FAILED', ['k.0', 'k.19']);
    expect(error.details.length).toBe(MAX_ERROR_DETAILS);
    // Past the first twenty, the storable-text check counts the rest in one last detail.
    expect(response.json().error.detailsTotal).toBe(MAX_ERROR_DETAILS + 1);
  });

  it('names the first of 100,000 unknown keys and counts them all', async () => {
    const payload = `{${Array.from({ length: 100_000 }, (_, index) => `"${index.toString(36)}":0`).join(',')}}`;
    const error = expectError(await api.call('POST', '/v1/users', tenant.key, payload, { 'content-type': 'application/json' }), 400, 'VALIDATION_FAILED', ['0']);
    expect(error.details.length).toBe(MAX_ERROR_DETAILS);
    expect((error as { detailsTotal?: number }).detailsTotal).toBeGreaterThanOrEqual(100_000);
  });

  it('names each of a few unknown fields and gives no count when none is left out', async () => {
    const response = await api.call('POST', '/v1/users', tenant.key, { email: 'a@example.com', username: 'a', one: 1, two: 2 });
    const error = expectError(response, 400, 'VALIDATION_FAILED', ['one', 'two']);
    expect(error).not.toHaveProperty('detailsTotal');
  });

  it('cuts a megabyte-long unknown key short in the detail that names it', async () => {
    const response = await api.call('POST', '/v1/users', tenant.key, { email: 'a@example.com', username: 'a', ['k'.repeat(1_000_000)]: 1 });
    expectError(response, 400, 'VALIDATION_FAILED');
    expect(response.body.length).toBeLessThan(MAX_ERROR_BODY);
  });
});

describe(`the nesting limit (${MAX_BODY_DEPTH} levels)`, () => {
  const settings = (payload: string) => api.call('PATCH', `/v1/users/${userId}/settings`, tenant.key, payload, { 'content-type': 'application/json' });

  it('refuses a body one level past it before parsing, naming the limit', async () => {
    expect(expectError(await settings(deepObject(MAX_BODY_DEPTH + 1)), 400, 'VALIDATION_FAILED', ['(root)']).message).toBe('the body is nested too deeply');
    // At the limit the body is parsed, and settings' own rule (32 levels of jsonb) refuses it.
    expect(expectError(await settings(deepObject(MAX_BODY_DEPTH)), 400, 'VALIDATION_FAILED').message).not.toBe('the body is nested too deeply');
  });

  it('does not count brackets inside strings, escaped quotes included', async () => {
    const note = `\\"${'{['.repeat(5_000)}`;
    const response = await settings(`{"note":"${note}"}`);
    expect(response.statusCode).toBe(200);
    expect(response.json().data.note).toBe(`"${'{['.repeat(5_000)}`);
  });

  it('leaves the deepest legitimate body (an activity\'s 32-level metadata in a batch) to validation', async () => {
    const metadata = JSON.parse(`${'{"a":'.repeat(31)}{}${'}'.repeat(31)}`) as Record<string, unknown>;
    const response = await api.call('POST', '/v1/activities', tenant.key, { activities: [{ userId, type: 'deep', metadata }] });
    expect(response.statusCode).toBe(201);
  });
});
