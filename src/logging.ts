import type { DestinationStream } from 'pino';

/**
 * Where the server's logs go: JSON lines (pino's own format, for log collectors) unless stdout is a
 * terminal, where a person reads them through pino-pretty: one coloured line per event instead of a
 * JSON object. Imported when a server starts, so the library and the CLI's other commands never load it.
 */
export async function logDestination(stdout: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout): Promise<DestinationStream | undefined> {
  if (!stdout.isTTY) return undefined;
  const { default: pretty } = await import('pino-pretty');
  return pretty({ destination: stdout, colorize: true, sync: true, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' });
}

/**
 * pino's standard `err` serializer copies every enumerable property, and a pg error (or one pg-boss
 * re-emits) can carry its client, pool and socket: each of three warnings at shutdown was ~4 KB of
 * them. A logged error keeps what a reader acts on.
 */
export function serializeError(error: unknown): { type: string; message: string; code?: string; stack: string } {
  if (!(error instanceof Error)) return { type: typeof error, message: String(error), stack: '' };
  const { code } = error as { code?: unknown };
  return {
    type: error.name,
    message: error.message,
    ...(typeof code === 'string' ? { code } : {}),
    stack: error.stack ?? '',
  };
}

export const logSerializers = { err: serializeError };
