import type { z } from 'zod';
import { StrataError } from '../errors.js';

/** Validates input once, at the edge; a failure names every bad field and changes nothing. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw new StrataError('VALIDATION_FAILED', undefined, parsed.error.issues.map((issue) => ({
    path: issue.path.join('.') || '(root)',
    message: issue.message,
  })));
}
