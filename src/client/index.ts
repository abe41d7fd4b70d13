/**
 * Strata's typed HTTP client (`strata/client`): the API's paths, bodies and error codes as types
 * generated from the served OpenAPI document, over `openapi-fetch` (a few KB around `fetch`). It
 * imports nothing of the server, so a browser or another Node service can use it.
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { components, operations, paths } from './openapi.generated.js';

export type { components, operations, paths };

/** Every error answer's body: `{ error: { code, message, details, detailsTotal? } }`. */
export type StrataErrorBody = components['schemas']['Error'];
export type StrataErrorCode = StrataErrorBody['error']['code'];
/** The client: `client.GET('/v1/users/{id}', { params: { path: { id } } })` answers `{ data, error, response }`. */
export type StrataClient = Client<paths, 'application/json'>;

export interface StrataClientOptions extends Omit<ClientOptions, 'baseUrl' | 'headers'> {
  /** The server's origin, such as `http://127.0.0.1:3000`: the paths start with `/v1`. */
  baseUrl: string;
  /** A tenant key, or the admin key for `/v1/tenants`; sent as `Authorization: Bearer <key>`. */
  apiKey: string;
  headers?: Record<string, string>;
}

export function createStrataClient({ baseUrl, apiKey, headers, ...options }: StrataClientOptions): StrataClient {
  return createClient<paths, 'application/json'>({
    ...options,
    baseUrl: baseUrl.replace(/\/+$/, ''),
    headers: { ...headers, Authorization: `Bearer ${apiKey}` },
  });
}

/**
 * An error answer, thrown by `unwrap`: its status, and the body's stable code, message and details.
 * An answer without a body (to HEAD) has only its status.
 */
export class StrataApiError extends Error {
  readonly code: StrataErrorCode | undefined;
  readonly details: StrataErrorBody['error']['details'];

  readonly body: StrataErrorBody | undefined;

  /** `answer` is the parsed body; one that is not Strata's error body (a proxy's page) keeps only the status. */
  constructor(readonly status: number, answer: unknown) {
    const body = isErrorBody(answer) ? answer : undefined;
    super(body ? `${body.error.code}: ${body.error.message}` : `HTTP ${status}`);
    this.name = 'StrataApiError';
    this.body = body;
    this.code = body?.error.code;
    this.details = body?.error.details ?? [];
  }
}

function isErrorBody(answer: unknown): answer is StrataErrorBody {
  if (typeof answer !== 'object' || answer === null || !('error' in answer)) return false;
  const { error } = answer;
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string'
    && 'message' in error && typeof error.message === 'string';
}

/** What openapi-fetch answers: the data of a success, or the error body of an error answer. */
interface Answer { data?: unknown; error?: unknown; response: Response }
type DataOf<Result extends Answer> = Extract<Result, { error?: undefined }>['data'];

/** The answer's data, or a `StrataApiError` thrown for an error answer: for code that would rather throw than check. */
export async function unwrap<Result extends Answer>(pending: Promise<Result>): Promise<DataOf<Result>> {
  const answer = await pending;
  if (!answer.response.ok) throw new StrataApiError(answer.response.status, answer.error);
  return answer.data;
}
