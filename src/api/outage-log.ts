/** Any logger with pino's warn(fields, message): Fastify's request log, a pino instance. */
export interface WarningLog {
  warn(fields: object, message: string): void;
}

/** How long a client should wait before retrying while the database is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;
const DEFAULT_INTERVAL_MS = 30_000;

/**
 * One warning per interval while the database is unreachable, with the number of failed requests
 * it stood for since the last one. A stack per request said nothing new: two PostgreSQL restarts
 * logged 17,707 of them.
 */
export class OutageLog {
  #lastWarning = -Infinity;
  #suppressed = 0;

  readonly #intervalMs: number;
  readonly #now: () => number;
  readonly #message: string;

  constructor(options: { intervalMs?: number; now?: () => number; message?: string } = {}) {
    this.#intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.#now = options.now ?? Date.now;
    this.#message = options.message ?? 'database unavailable: answering 503 DATABASE_UNAVAILABLE';
  }

  report(log: WarningLog, error: unknown): void {
    const now = this.#now();
    if (now - this.#lastWarning < this.#intervalMs) {
      this.#suppressed += 1;
      return;
    }
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    log.warn({ code, reason: typeof message === 'string' ? message : String(error), suppressed: this.#suppressed },
      this.#message);
    this.#lastWarning = now;
    this.#suppressed = 0;
  }
}
