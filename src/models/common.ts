import { z } from 'zod';

/** Identifiers are bigint in PostgreSQL and JSON numbers at the edge: safe below 2^53. */
export const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const slug = z.string().min(1).max(63).regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'lowercase letters, digits and inner dashes');
export const name = z.string().trim().min(1).max(200);
/** Text without NUL, which PostgreSQL cannot store in text columns. */
export const text = (max: number) => z.string().max(max).refine((value) => !value.includes('\u0000'), 'must not contain NUL characters');
export const jsonObject = z.record(z.string(), z.unknown());
