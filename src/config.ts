import { z } from 'zod';

const configSchema = z.object({
  DATABASE_URL: z.string().url().optional(),
  REDIS_URL: z.string().url().optional(),
  STRATA_DATA_DIR: z.string().min(1).default('./.strata'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  STRATA_ADMIN_KEY: z.string().min(16).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  CACHE_TTL_SECONDS: z.coerce.number().int().positive().default(300),
  /** Bound on every Redis command: past it the request is served from the database. */
  REDIS_TIMEOUT_MS: z.coerce.number().int().positive().default(100),
  CACHE_MAX_ENTRIES: z.coerce.number().int().positive().default(10_000),
  /** Namespace of every cache key and of the invalidation channel; lets deployments share a Redis. */
  CACHE_KEY_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('strata'),
  CACHE_WARN_INTERVAL_SECONDS: z.coerce.number().int().positive().default(30),
  ETL_CRON: z.string().min(1).default('*/5 * * * *'),
  /** How long an Idempotency-Key is remembered; an hourly job forgets older ones. */
  IDEMPOTENCY_KEY_TTL_HOURS: z.coerce.number().int().positive().max(24 * 365).default(24),
  /** `off` runs the API without the scheduled analytics and partition jobs (run `strata etl run` by hand). */
  STRATA_SCHEDULER: z.enum(['on', 'off']).default('on'),
  /** Request body bytes the ingest routes hold at once; a batch past it waits in the queue. */
  INGEST_MAX_INFLIGHT_BYTES: z.coerce.number().int().positive().default(8 * 1024 * 1024),
  /** Batches that may wait for room; one more is refused at once with OVERLOADED. */
  INGEST_QUEUE_LENGTH: z.coerce.number().int().min(0).default(8),
  /** How long a batch may wait in the queue before it is refused with OVERLOADED. */
  INGEST_QUEUE_TIMEOUT_MS: z.coerce.number().int().positive().default(2000),
  /** Connections of the ingest pool, beside the pool that serves reads. */
  INGEST_POOL_SIZE: z.coerce.number().int().positive().default(3),
  /** Requests per API key per minute (shared through Redis when REDIS_URL is set); 0 turns the limit off. */
  RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(0).default(3000),
});

export type Config = z.infer<typeof configSchema>;

/** Reads the environment once into a typed, validated config; a bad value stops start-up with its name. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  ));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new Error(`invalid configuration: ${problems.join('; ')}`);
  }
  return parsed.data;
}
