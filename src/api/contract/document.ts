import { z } from 'zod';
import { errorCatalogue, type ErrorCode } from '../../errors.js';
import { operations, type OperationContract } from './operations.js';

type Json = Record<string, unknown>;
interface Operation extends Json {
  summary?: string;
  description?: string;
  parameters?: Json[];
  requestBody?: Json;
  responses?: Record<string, Json>;
}

const ref = (kind: 'schemas' | 'headers' | 'parameters', name: string) => ({ $ref: `#/components/${kind}/${name}` });

/** Response headers every answer of a kind carries, defined once under components.headers. */
export const responseHeaders = {
  ETag: { description: 'The version of this answer; send it back as `If-None-Match` to get `304` while it holds.', schema: { type: 'string' } },
  'Idempotent-Replayed': { description: '`true` when this answer replays the first one stored under the request\'s `Idempotency-Key`.', schema: { type: 'string', enum: ['true'] } },
  'Retry-After': { description: 'Seconds to wait before retrying.', schema: { type: 'integer', minimum: 0 } },
  'X-RateLimit-Limit': { description: 'Requests allowed per minute for this API key.', schema: { type: 'integer', minimum: 0 } },
  'X-RateLimit-Remaining': { description: 'Requests left in the current minute for this API key.', schema: { type: 'integer', minimum: 0 } },
  'X-RateLimit-Reset': { description: 'Seconds until the current minute\'s count resets.', schema: { type: 'integer', minimum: 0 } },
};

export const requestParameters = {
  IdempotencyKey: {
    name: 'Idempotency-Key', in: 'header', required: false,
    description: 'Makes a retry safe: a request already stored under this key is not stored again and gets the first answer; the key with another body is `422 IDEMPOTENCY_KEY_REUSED`.',
    schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' },
  },
  IfNoneMatch: {
    name: 'If-None-Match', in: 'header', required: false,
    description: 'The `ETag` of an answer already held: `304 Not Modified`, with no body, while it is still current.',
    schema: { type: 'string' },
  },
};

const rateLimitHeaders = { 'X-RateLimit-Limit': ref('headers', 'X-RateLimit-Limit'), 'X-RateLimit-Remaining': ref('headers', 'X-RateLimit-Remaining'), 'X-RateLimit-Reset': ref('headers', 'X-RateLimit-Reset') };

/** The error codes an operation can answer with, by what it is: its route, its body, its access. */
export function errorsOf(method: string, path: string, operation: Operation, contract: OperationContract): ErrorCode[] {
  // A URL that is not valid (bad percent-encoding) is refused on any route, before it runs.
  if (path === '/health') return ['MALFORMED_REQUEST'];
  if (path === '/ready') return ['MALFORMED_REQUEST', 'DATABASE_UNAVAILABLE'];
  const codes = new Set<ErrorCode>(['MALFORMED_REQUEST', 'VALIDATION_FAILED', 'UNAUTHENTICATED', 'INTERNAL', 'DATABASE_UNAVAILABLE']);
  const tenantRoute = path.startsWith('/v1/') && !path.startsWith('/v1/tenants');
  if (path.startsWith('/v1/')) codes.add('RATE_LIMITED');
  if (tenantRoute && method !== 'GET') codes.add('READ_ONLY_KEY');
  if (path.includes('{') || path === '/v1/audit') codes.add('NOT_FOUND');
  if (operation.requestBody) {
    for (const code of ['MALFORMED_JSON', 'PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'CHECK_VIOLATION', 'INTEGRITY_VIOLATION'] as const) codes.add(code);
  }
  if (contract.idempotent) codes.add('IDEMPOTENCY_KEY_REUSED');
  for (const code of contract.errors ?? []) codes.add(code);
  return [...codes];
}

const errorCodesOf = (codes: ErrorCode[]): Json => ({
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code'], properties: { code: { type: 'string', enum: codes } } } },
});

function errorResponses(codes: ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of codes) byStatus.set(errorCatalogue[code].status, [...(byStatus.get(errorCatalogue[code].status) ?? []), code]);
  const responses: Record<string, Json> = {};
  for (const [status, inStatus] of [...byStatus].sort(([a], [b]) => a - b)) {
    const retry = status === 429 || status === 503;
    responses[String(status)] = {
      description: inStatus.map((code) => `\`${code}\`: ${errorCatalogue[code].message}`).join(' '),
      ...(retry ? { headers: { 'Retry-After': ref('headers', 'Retry-After') } } : {}),
      // The shared Error schema, narrowed to the codes this status can carry here: a generated
      // client types `error.code` per operation, and the conformance check refuses any other code.
      content: { 'application/json': { schema: { allOf: [ref('schemas', 'Error'), errorCodesOf(inStatus)] } } },
    };
  }
  return responses;
}

/** A zod schema as OpenAPI 3.0 JSON Schema; named resources (meta id) become components of their own. */
function toJsonSchema(schema: z.ZodType, components: Json): Json {
  const converted = z.toJSONSchema(schema, {
    target: 'openapi-3.0', io: 'output', unrepresentable: 'any', reused: 'inline',
    override: (context) => {
      const def = context.zodSchema._zod.def;
      if (def.type === 'date') Object.assign(context.jsonSchema, { type: 'string', format: 'date-time' });
    },
  }) as Json;
  const { definitions, $defs, ...rest } = JSON.parse(JSON.stringify(converted).replaceAll('"#/definitions/', '"#/components/schemas/')
    .replaceAll('"#/$defs/', '"#/components/schemas/')) as Json & { definitions?: Json; $defs?: Json };
  Object.assign(components, definitions ?? {}, $defs ?? {});
  delete rest.$schema;
  return rest;
}

/** zod drops a union's Date branch from the document, leaving anyOf with one schema: use it directly. */
function flattenSingleAnyOf(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) flattenSingleAnyOf(item);
  } else if (value !== null && typeof value === 'object') {
    const node = value as Json;
    if (Array.isArray(node.anyOf) && node.anyOf.length === 1) {
      const [only] = node.anyOf as Json[];
      delete node.anyOf;
      Object.assign(node, only);
    }
    for (const inner of Object.values(node)) flattenSingleAnyOf(inner);
  }
}

const capitalised = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/**
 * Completes each operation fastify-swagger generated from the routes' zod schemas with what the
 * routes do not declare to Fastify: the operationId, every answer (success and the error
 * catalogue's codes), the headers, and a HEAD beside each GET.
 */
export function completeDocument(document: { paths: Record<string, Record<string, Operation>>; components: Json }) {
  const schemas = document.components.schemas as Json;
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      const key = `${method.toUpperCase()} ${path}`;
      const contract = operations[key];
      // A route missing from the table stays as generated, without an operationId: the contract test
      // refuses such a document, and the linters with it.
      if (!contract) continue;
      operation.operationId = contract.operationId;
      operation.description ??= operation.summary;
      const parameters = [...(operation.parameters ?? [])];
      if (contract.idempotent) parameters.push(ref('parameters', 'IdempotencyKey'));
      if (method === 'get' && path.startsWith('/v1/')) parameters.push(ref('parameters', 'IfNoneMatch'));
      if (parameters.length > 0) operation.parameters = parameters;
      const headers: Json = {
        ...(path.startsWith('/v1/') ? rateLimitHeaders : {}),
        ...(method === 'get' && path.startsWith('/v1/') ? { ETag: ref('headers', 'ETag') } : {}),
        ...(contract.idempotent ? { 'Idempotent-Replayed': ref('headers', 'Idempotent-Replayed') } : {}),
      };
      const success: Json = { description: operation.summary ?? 'Success' };
      if (Object.keys(headers).length > 0) success.headers = headers;
      if (contract.body) {
        const name = `${capitalised(contract.operationId)}Response`;
        schemas[name] = toJsonSchema(contract.body, schemas);
        success.content = path === '/metrics'
          ? { 'text/plain': { schema: { type: 'string' } }, 'application/json': { schema: { type: 'array', items: { type: 'object' } } } }
          : { 'application/json': { schema: ref('schemas', name) } };
        if (path === '/metrics') delete schemas[name];
      }
      operation.responses = {
        [String(contract.status)]: success,
        ...(method === 'get' && path.startsWith('/v1/') ? { 304: { description: 'Not modified: the `If-None-Match` ETag is still current.', headers: { ETag: ref('headers', 'ETag') } } } : {}),
        ...errorResponses(errorsOf(method.toUpperCase(), path, operation, contract)),
      };
    }
    const get = methods.get;
    if (get) {
      const responses = Object.fromEntries(Object.entries(get.responses ?? {}).map(([status, response]) => {
        const { content: _content, ...rest } = response;
        return [status, rest];
      }));
      if (typeof get.operationId !== 'string') continue;
      methods.head = { ...get, operationId: `head${capitalised(get.operationId)}`, summary: `Headers of: ${get.summary}`, description: `As GET, without the body: ${get.description}`, responses };
    }
  }
  flattenSingleAnyOf(document.paths);
  return document;
}
