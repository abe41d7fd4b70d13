import type { LightMyRequestResponse } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { testApi, type TestApi } from './helpers.js';
import { checker } from './support/conformance.js';

let api: TestApi;
let check: ReturnType<typeof checker>;

beforeAll(async () => {
  api = await testApi();
  await api.app.ready();
  check = checker(api.app.swagger() as never);
});

const answer = (statusCode: number, body: unknown) => ({
  statusCode, body: JSON.stringify(body), headers: { 'content-type': 'application/json; charset=utf-8' },
}) as unknown as LightMyRequestResponse;

describe('the conformance check every API test runs through', () => {
  it('accepts an answer the document describes', () => {
    const tenant = { id: 1, name: 'A', slug: 'a', createdAt: new Date().toISOString() };
    expect(check('GET', '/v1/tenants/1', answer(200, { data: tenant }))).toBeUndefined();
  });

  it('refuses a status the operation does not document', () => {
    expect(check('GET', '/v1/tenants/1', answer(418, {}))).toMatch(/does not document/);
  });

  it('refuses a body outside the envelope or with a field of the wrong type', () => {
    const tenant = { id: 1, name: 'A', slug: 'a', createdAt: new Date().toISOString() };
    expect(check('GET', '/v1/tenants/1', answer(200, tenant))).toMatch(/does not allow/);
    expect(check('GET', '/v1/tenants/1', answer(200, { data: { ...tenant, id: 'one' } }))).toMatch(/does not allow/);
    expect(check('GET', '/v1/users/1', answer(404, { error: { code: 'NOT_FOUND', message: 'x' } }))).toMatch(/does not allow/);
  });

  it('leaves alone what the contract does not cover', () => {
    expect(check('GET', '/docs/static/index.html', answer(200, {}))).toBeUndefined();
  });
});
