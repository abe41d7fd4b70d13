import type { z } from 'zod';
import { parseInput } from '../../src/models/validation.js';

/** What validating `input` with a model's schema throws at the edge (undefined when it passes). */
export function refusal(schema: z.ZodType, input: unknown): unknown {
  try {
    parseInput(schema, input);
    return undefined;
  } catch (error) {
    return error;
  }
}
