import { randomBytes } from 'node:crypto';
import type { LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { errorCatalogue, type ErrorCode } from '../../../src/errors.js';
import { testApi, type TestApi } from '../helpers.js';

export interface Exchange {
  method: string;
  url: string;
  status: number;
  body: string;
}

export interface CheckedApi extends TestApi {
  /** Every response this file's requests got through `call`. */
  readonly exchanges: Exchange[];
  /** `call` without the catalogue assertion, for a sweep that gathers every violation before failing. */
  uncheckedCall: TestApi['call'];
}

const successStatuses = new Set([200, 201, 204]);

/** Why a response breaks the contract (a status or an error body outside the catalogue), or undefined. */
export function catalogueViolation(exchange: Exchange): string | undefined {
  const where = `${exchange.method} ${exchange.url.slice(0, 120)} → ${exchange.status}`;
  if (successStatuses.has(exchange.status)) return undefined;
  // A HEAD answer has no body to carry the code: its status alone must be one the catalogue uses.
  if (exchange.method === 'HEAD') {
    return Object.values(errorCatalogue).some((entry) => entry.status === exchange.status) ? undefined : `${where}: not a catalogue status`;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(exchange.body);
  } catch {
    return `${where}: the body is not JSON`;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } }).error;
  if (typeof error?.code !== 'string' || !(error.code in errorCatalogue)) return `${where}: ${exchange.body.slice(0, 200)}`;
  if (typeof error.message !== 'string' || !Array.isArray(error.details)) return `${where}: the error lacks a message or details`;
  const malformed = (error.details as { path?: unknown; message?: unknown }[])
    .find((detail) => typeof detail?.message !== 'string' || (detail.path !== undefined && typeof detail.path !== 'string'));
  if (malformed) return `${where}: a detail is not {path, message}: ${JSON.stringify(malformed)}`;
  const expected = errorCatalogue[error.code as ErrorCode].status;
  return expected === exchange.status ? undefined : `${where}: ${error.code} belongs to ${expected}`;
}

/**
 * testApi() whose every response must be a success or an error from the catalogue with the
 * catalogue's status for its code: `call` fails the test at the first one that is not.
 */
export async function checkedApi(): Promise<CheckedApi> {
  const api = await testApi();
  const exchanges: Exchange[] = [];
  const call: TestApi['call'] = async (method, url, key, body, headers) => {
    const response = await api.call(method, url, key, body, headers);
    const exchange = { method, url, status: response.statusCode, body: response.body };
    exchanges.push(exchange);
    expect(catalogueViolation(exchange)).toBeUndefined();
    return response;
  };
  return {
    ...api,
    call,
    uncheckedCall: (...args) => api.call(...args),
    exchanges,
    async tenant(name = 'Tenant') {
      const slug = `${name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}-${randomBytes(3).toString('hex')}`;
      const response = await call('POST', '/v1/tenants', api.adminKey, { name, slug });
      if (response.statusCode !== 201) throw new Error(`tenant creation failed: ${response.body}`);
      const body = response.json();
      return { id: body.data.tenant.id, key: body.data.apiKey.key };
    },
  };
}

/** Asserts an error answer: the status, the catalogue code, and (when given) the paths named in details. */
export function expectError(response: LightMyRequestResponse, status: number, code: ErrorCode, paths?: string[]) {
  expect({ status: response.statusCode, code: response.json().error?.code }).toEqual({ status, code });
  expect(errorCatalogue[code].status).toBe(status);
  if (paths) {
    const named = (response.json().error.details as { path?: string }[]).map((detail) => detail.path);
    for (const path of paths) expect(named).toContain(path);
  }
  return response.json().error as { code: ErrorCode; message: string; details: { path?: string; message: string }[] };
}
