import { z } from 'zod';
import { refuseUnstorableText } from './http.js';

const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());
const snake = (key: string) => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);

/**
 * The models validate snake_case (the database's names); the API speaks camelCase. This renames a
 * model's top-level fields (and those of `nested` sub-objects) so both share one set of rules, and
 * refuses text the database would not store as sent.
 */
export function camelCaseBody<T extends z.ZodRawShape>(schema: z.ZodObject<T>, nested: string[] = []) {
  return camelCaseShape(schema, nested).superRefine(refuseUnstorableText);
}

function camelCaseShape(schema: z.ZodObject<z.ZodRawShape>, nested: string[]): z.ZodObject<z.ZodRawShape> {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(schema.shape)) {
    const inner = nested.includes(key) ? unwrapObject(field as z.ZodType) : undefined;
    shape[camel(key)] = inner ? camelCaseShape(inner, []).optional() : (field as z.ZodType);
  }
  return z.strictObject(shape);
}

function unwrapObject(field: z.ZodType): z.ZodObject<z.ZodRawShape> | undefined {
  let current: z.ZodType = field;
  while (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap() as z.ZodType;
  return current instanceof z.ZodObject ? current : undefined;
}

/** Renames camelCase keys back to snake_case for the repositories (only the named nested objects). */
export function toSnakeCase(body: Record<string, unknown>, nested: string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    const name = snake(key);
    out[name] = nested.includes(name) && value && typeof value === 'object' ? toSnakeCase(value as Record<string, unknown>) : value;
  }
  return out;
}
