import { z } from 'zod';
import { callerTenant } from '../auth.js';
import type { App, RouteOptions } from '../types.js';

/**
 * The caller's own cache lookups per layer on the instance that answers: what `strata cache stats`
 * and `/metrics` show for the whole instance (admin key), narrowed to one tenant's keys. Counts live
 * in the process, so behind a load balancer each instance answers with its own since it started.
 */
export async function cacheStatsRoutes(app: App, _options: RouteOptions): Promise<void> {
  app.get('/cache-stats', {
    schema: {
      tags: ['operations'],
      summary: 'Cache hits, misses, sets and hit rate per layer for the caller\'s tenant, on this instance since it started',
      querystring: z.strictObject({}),
    },
    // Counts change with every request, this one included: an ETag would never match.
    config: { etag: false },
  }, async (request) => ({
    data: app.caches.metrics.tenantSnapshot(callerTenant(request))
      .map(({ layer, hits, misses, sets, hitRate }) => ({ layer, hits, misses, sets, hitRate })),
    backend: app.caches.backend,
  }));
}
