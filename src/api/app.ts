import Fastify, { type FastifyInstance } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import {
  jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { logSerializers } from '../logging.js';
import { apiCachePlugin } from '../caching/api-cache.js';
import { disabledCaches, type Caches } from '../caching/index.js';
import { authenticate, type Principal } from '../services/api-keys.js';
import { IngestAdmission } from './admission.js';
import { authPlugin, publicByDefault, tenantScopeOf } from './auth.js';
import { clientErrorHandler } from './client-errors.js';
import { frameworkErrorHandler, registerErrorHandling } from './errors.js';
import { registerJsonBodyParser } from './json-body.js';
import { healthRoutes } from './health.js';
import { completeDocument } from './contract/document.js';
import { openApiInfo } from './openapi.js';
import { docsHeaders, securityHeaders } from './security-headers.js';
import { registerRateLimit } from './rate-limit.js';
import { activityRoutes } from './routes/activities.js';
import { analyticsRoutes } from './routes/analytics.js';
import { apiKeyRoutes } from './routes/api-keys.js';
import { auditRoutes } from './routes/audit.js';
import { etlRunRoutes } from './routes/etl-runs.js';
import { cacheStatsRoutes } from './routes/cache-stats.js';
import { eventRoutes } from './routes/events.js';
import { organizationRoutes } from './routes/organizations.js';
import { productRoutes } from './routes/products.js';
import { projectRoutes } from './routes/projects.js';
import { tenantRoutes } from './routes/tenants.js';
import { userRoutes } from './routes/users.js';
import type { App } from './types.js';
import { dashboard } from './web.js';

export interface AppOptions {
  database: Database;
  config: Config;
  logger?: boolean | { level: string; stream?: { write(line: string): void } };
  resolvePrincipal?: (key: string) => Promise<Principal | null>;
  /** Session, query and response caches (src/caching); without them every read goes to the database. */
  caches?: Caches;
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Builds the HTTP API without listening; tests drive it with app.inject(). */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger ? { ...(options.logger === true ? {} : options.logger), serializers: logSerializers } : false,
    bodyLimit: DEFAULT_BODY_LIMIT,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // A malformed URL (bad percent-encoding, an over-long parameter) answers in the catalogue's shape.
    frameworkErrors: frameworkErrorHandler,
    // Headers over 16 KB and malformed HTTP, which Node refuses before Fastify sees a request.
    clientErrorHandler,
    ajv: { customOptions: { coerceTypes: false } },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  registerJsonBodyParser(app);
  await securityHeaders(app);

  await app.register(fastifySwagger, {
    openapi: openApiInfo as never, transform: jsonSchemaTransform,
    transformObject: (input) => completeDocument((input as { openapiObject: never }).openapiObject) as never,
  });
  await app.register(async (docs) => {
    publicByDefault(docs);
    docsHeaders(docs);
    // No validator badge: it would load an image from validator.swagger.io, outside the CSP.
    await docs.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { validatorUrl: null } });
  });
  const caches = options.caches ?? disabledCaches(options.database);
  const resolvePrincipal = options.resolvePrincipal ?? caches.session.wrap((key) => authenticate(options.database.admin, key));
  await app.register(authPlugin, { database: options.database, resolve: resolvePrincipal });
  await app.register(apiCachePlugin, {
    caches,
    database: options.database,
    tenantOf: (request) => tenantScopeOf(request)?.tenantId,
  });

  const publicRoute = { config: { access: 'public' as const }, schema: { hide: true } };
  await app.register(healthRoutes, { database: options.database, caches });
  app.get('/openapi.json', publicRoute, async () => app.swagger());
  // Admin: the counters describe every tenant's traffic; Prometheus sends the key as a bearer token.
  app.get('/metrics', { config: { access: 'admin', etag: false }, schema: { tags: ['operations'], summary: 'Prometheus metrics (admin key): text, or JSON with Accept: application/json' } }, async (request, reply) => {
    const { registry } = caches.metrics;
    if (request.headers.accept?.includes('application/json')) return registry.getMetricsAsJSON();
    return reply.type(registry.contentType).send(await registry.metrics());
  });

  await app.register(dashboard);
  const admission = new IngestAdmission({
    maxInflightBytes: options.config.INGEST_MAX_INFLIGHT_BYTES,
    queueLength: options.config.INGEST_QUEUE_LENGTH,
    queueTimeoutMs: options.config.INGEST_QUEUE_TIMEOUT_MS,
  });
  await app.register(async (v1: App) => {
    await registerRateLimit(v1, options.config);
    const routeOptions = { database: options.database, admission };
    await v1.register(tenantRoutes, routeOptions);
    await v1.register(apiKeyRoutes, routeOptions);
    await v1.register(analyticsRoutes, routeOptions);
    await v1.register(etlRunRoutes, routeOptions);
    await v1.register(cacheStatsRoutes, routeOptions);
    await v1.register(userRoutes, routeOptions);
    await v1.register(organizationRoutes, routeOptions);
    await v1.register(projectRoutes, routeOptions);
    await v1.register(productRoutes, routeOptions);
    await v1.register(activityRoutes, routeOptions);
    await v1.register(eventRoutes, routeOptions);
    await v1.register(auditRoutes, routeOptions);
  }, { prefix: '/v1' });
  return app;
}
