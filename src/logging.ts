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
