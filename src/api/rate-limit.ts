import { createHash } from 'node:crypto';
import fastifyRateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { StrataError } from '../errors.js';
import { bearer } from './auth.js';

export type RateLimitConfig = Pick<Config, 'RATE_LIMIT_PER_MINUTE' | 'REDIS_URL' | 'REDIS_TIMEOUT_MS' | 'CACHE_KEY_PREFIX'>;

const WINDOW_SECONDS = 60;

/**
 * Limits requests per API key (its sha-256, as stored: the raw key never reaches Redis) to
 * RATE_LIMIT_PER_MINUTE, counted in Redis when REDIS_URL is set so every instance shares one count,
 * else in this process. Registered inside the scope it limits, after authentication, so an unknown
 * key is refused (401) without spending anyone's allowance. When Redis fails the request is let
 * through: an outage of the counter must not become an outage of the API.
 */
export async function registerRateLimit(scope: FastifyInstance, config: RateLimitConfig): Promise<void> {
  const perMinute = config.RATE_LIMIT_PER_MINUTE;
  if (perMinute === 0) return;
  let redis: Redis | undefined;
  if (config.REDIS_URL) {
    // No offline queue and a short timeout: while Redis is away a request waits for nothing.
    redis = new Redis(config.REDIS_URL, {
      commandTimeout: config.REDIS_TIMEOUT_MS, enableOfflineQueue: false, maxRetriesPerRequest: 0, disableClientInfo: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    });
    // The cache layer already warns about an unreachable Redis; one warning per outage is enough.
    redis.on('error', () => undefined);
    const client = redis;
    scope.addHook('onClose', async () => {
      await client.quit().catch(() => client.disconnect());
    });
  }
  const policy = `${perMinute};w=${WINDOW_SECONDS}`;
  scope.addHook('onRequest', async (_request, reply) => {
    void reply.header('ratelimit-policy', policy);
  });
  await scope.register(fastifyRateLimit, {
    max: perMinute,
    timeWindow: WINDOW_SECONDS * 1000,
    ...(redis ? { redis, nameSpace: `${config.CACHE_KEY_PREFIX}:rate-limit:` } : {}),
    skipOnError: true,
    // RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (draft-ietf-httpapi-ratelimit-headers) and Retry-After.
    enableDraftSpec: true,
    keyGenerator: (request) => createHash('sha256').update(bearer(request) ?? '').digest('base64url'),
    errorResponseBuilder: (_request, context) => new StrataError('RATE_LIMITED',
      `this API key may send ${context.max} requests a minute; retry in ${context.after}`,
      [{ message: 'rate limited', limit: context.max, retryAfterSeconds: Math.ceil(context.ttl / 1000) }]),
  });
}
