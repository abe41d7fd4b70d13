import { CommanderError } from 'commander';
import { StrataError } from '../errors.js';

/**
 * Codes only the command line reports, beside the API's catalogue (src/errors.ts), which they stay
 * out of because no HTTP answer carries them. Stable: scripts match on them.
 */
export const cliErrorCodes = {
  ADDRESS_IN_USE: 'the address strata serve should listen on is taken',
  INSTANCE_UNREACHABLE: 'no Strata instance answers at the address',
} as const;

export type CliErrorCode = keyof typeof cliErrorCodes;

export class CliError extends Error {
  constructor(readonly code: CliErrorCode, message: string, readonly hint?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CliError';
  }
}

/** What the command line prints for a failed command: a stable code first, then details or a hint. */
export function errorLines(error: unknown): string[] {
  if (error instanceof StrataError) {
    return [`error ${error.code}: ${error.message}`,
      ...error.details.map((detail) => `  ${detail.path ? `${detail.path}: ` : ''}${detail.message}`)];
  }
  if (error instanceof CliError) return [`error ${error.code}: ${error.message}`, ...(error.hint ? [`  hint: ${error.hint}`] : [])];
  return [`error: ${(error as Error)?.message ?? String(error)}`];
}

export function exitCodeOf(error: unknown): number {
  return error instanceof CommanderError ? error.exitCode : 1;
}
