import { StrataError } from '../errors.js';

/** A whole-number option, refused with VALIDATION_FAILED naming it unless it lies within [min, max]. */
export function integerOption(name: string, value: string, min = 1, max = 100_000_000): number {
  if (!/^\d{1,9}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new StrataError('VALIDATION_FAILED', `${name} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return Number(value);
}
