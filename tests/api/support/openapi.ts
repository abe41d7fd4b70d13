import { expect } from 'vitest';
import type { TestApi } from '../helpers.js';

export interface JsonSchema {
  $ref?: string;
  type?: string | string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  default?: unknown;
  nullable?: boolean;
}

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required?: boolean;
  schema: JsonSchema;
}

export interface Operation {
  method: string;
  /** As the document writes it: /v1/users/{id}. */
  path: string;
  summary?: string;
  tags?: string[];
  security?: unknown[];
  parameters: Parameter[];
  body?: JsonSchema;
}

export interface OpenApiDocument {
  openapi: string;
  security?: unknown[];
  paths: Record<string, Record<string, { summary?: string; tags?: string[]; security?: unknown[]; parameters?: Parameter[]; requestBody?: { content?: Record<string, { schema: JsonSchema }> } }>>;
  components: { schemas: Record<string, JsonSchema & { properties?: Record<string, JsonSchema> }>; securitySchemes?: Record<string, unknown> };
}

/**
 * The served OpenAPI document and every /v1 operation in it, so a route added later is covered by
 * default (the operations endpoints, /health, /ready and /metrics, have tests of their own).
 */
export async function openApi(api: TestApi): Promise<{ document: OpenApiDocument; operations: Operation[] }> {
  const response = await api.call('GET', '/openapi.json', null);
  expect(response.statusCode).toBe(200);
  const document = response.json<OpenApiDocument>();
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    if (!path.startsWith('/v1/')) continue;
    for (const [method, operation] of Object.entries(methods)) {
      // Each GET's HEAD is documented beside it; the tests send HEAD wherever they send GET.
      if (method === 'head') continue;
      operations.push({
        method: method.toUpperCase(),
        path,
        summary: operation.summary,
        tags: operation.tags,
        security: operation.security,
        parameters: operation.parameters ?? [],
        body: operation.requestBody?.content?.['application/json']?.schema,
      });
    }
  }
  return { document, operations };
}

export function resolve(document: OpenApiDocument, schema: JsonSchema): JsonSchema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  return document.components.schemas[name] ?? {};
}

/** A value the schema accepts on its face (formats aside): the base a hostile value is swapped into. */
export function sample(document: OpenApiDocument, raw: JsonSchema): unknown {
  const schema = resolve(document, raw);
  if (schema.default !== undefined) return schema.default;
  if (schema.enum) return schema.enum[0];
  const variant = schema.anyOf?.[0] ?? schema.oneOf?.[0];
  if (variant) return sample(document, variant);
  const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  switch (type) {
    case 'string':
      if (schema.pattern === '^\\d{4}-\\d{2}-\\d{2}$') return '2024-01-01';
      if (schema.pattern === '^[1-9][0-9]*$') return '1';
      return 'a'.repeat(Math.max(1, schema.minLength ?? 1));
    case 'integer':
    case 'number':
      return typeof schema.minimum === 'number' ? schema.minimum + (schema.exclusiveMinimum === true ? 1 : 0) : 1;
    case 'boolean':
      return true;
    case 'array':
      return [];
    case 'object':
      return Object.fromEntries((schema.required ?? []).map((name) => [name, sample(document, schema.properties?.[name] ?? {})]));
    default:
      return 'a';
  }
}

/**
 * Whether the documented schema admits this query-string value; undefined when the document cannot
 * tell (a format it does not spell out). A read the document admits may rightly succeed.
 */
export function admits(document: OpenApiDocument, raw: JsonSchema, value: string): boolean | undefined {
  const schema = resolve(document, raw);
  if (schema.enum) return schema.enum.includes(value);
  if (schema.type === 'integer' || schema.type === 'number') {
    const number = Number(value);
    if (!/^-?\d+(\.\d+)?$/.test(value) || !Number.isFinite(number) || (schema.type === 'integer' && !Number.isInteger(number))) return false;
    if (typeof schema.maximum === 'number' && number > schema.maximum) return false;
    return typeof schema.minimum !== 'number' || number > schema.minimum || (number === schema.minimum && schema.exclusiveMinimum !== true);
  }
  if (schema.type !== 'string') return undefined;
  if (value.length < (schema.minLength ?? 0) || value.length > (schema.maxLength ?? Infinity)) return false;
  if (schema.pattern && !new RegExp(schema.pattern).test(value)) return false;
  return schema.format ? undefined : true;
}
