import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import type { Caches } from '../caching/index.js';
import type { Database } from '../db/database.js';
import { StrataError } from '../errors.js';
import { DATABASE_RETRY_AFTER_SECONDS } from './outage-log.js';

export type DependencyState = 'up' | 'down';

export interface HealthChecks {
  database: DependencyState;
  /** Only when Redis is configured; without it the caches live in this process. */
  redis?: DependencyState;
}

// A probe must answer even when the database host drops packets: a pg pool waits for a connection
// without limit, and an orchestrator's probe times out with nothing said.
const PROBE_TIMEOUT_MS = 2000;
// ioredis reconnects on its own: its state now is the answer, with a moment for a connection under way.
const REDIS_PROBE_TIMEOUT_MS = 250;

function within<T>(work: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), PROBE_TIMEOUT_MS);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

async function check(database: Database, caches: Caches): Promise<HealthChecks> {
  const databaseUp = within(sql`select 1`.execute(database.admin).then(() => true, () => false), false);
  const redisUp = caches.backend === 'redis' ? caches.ready(REDIS_PROBE_TIMEOUT_MS) : undefined;
  const checks: HealthChecks = { database: (await databaseUp) ? 'up' : 'down' };
  if (redisUp) checks.redis = (await redisUp) ? 'up' : 'down';
  return checks;
}

/**
 * `/health` is liveness: always 200 while the process serves, saying which dependency is down.
 * `/ready` is readiness: 503 DATABASE_UNAVAILABLE while the database is down, since no request
 * could be served. Redis being down does not make an instance unready: it serves from the database.
 */
export async function healthRoutes(app: FastifyInstance, options: { database: Database; caches: Caches }): Promise<void> {
  const config = { access: 'public' as const };
  app.get('/health', { config, schema: { tags: ['operations'], summary: 'Liveness: always 200, naming any dependency that is down', security: [] } }, async () => {
    const checks = await check(options.database, options.caches);
    return { status: Object.values(checks).every((state) => state === 'up') ? 'ok' : 'degraded', checks };
  });
  app.get('/ready', { config, schema: { tags: ['operations'], summary: 'Readiness: 503 DATABASE_UNAVAILABLE while the database does not answer', security: [] } }, async (_request, reply) => {
    const checks = await check(options.database, options.caches);
    if (checks.database === 'up') return { status: 'ready', checks };
    const error = new StrataError('DATABASE_UNAVAILABLE', undefined, [{ path: 'database', message: 'not reachable' }]);
    return reply.status(error.status).header('retry-after', String(DATABASE_RETRY_AFTER_SECONDS))
      .send({ status: 'unavailable', checks, ...error.toJSON() });
  });
}
