import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Caches } from './index.js';
import { analyticsDataVersion } from './query-cache.js';
import type { CacheEntry } from './store.js';
import type { Database } from '../db/database.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: no ETag (a response that differs on every call, such as /metrics). */
    etag?: boolean;
    /** Keep this GET's 200 responses server-side, per tenant, until the analytics data changes. */
    responseCache?: boolean;
  }
  interface FastifyInstance {
    caches: Caches;
  }
}

export interface ApiCacheOptions {
  caches: Caches;
  database: Database;
  /** The caller's tenant, if the request is a tenant's. */
  tenantOf(request: FastifyRequest): number | undefined;
}

interface CachedResponse {
  body: string;
  contentType: string;
}

/** GET routes under this path get the response cache without saying so themselves. */
const RESPONSE_CACHED_PREFIX = '/v1/analytics/';

const toStore = new WeakMap<FastifyRequest, { entry: CacheEntry; version: string }>();

function entityTag(payload: string | Buffer): string {
  return `"${createHash('sha1').update(payload).digest('base64url')}"`;
}

/** RFC 9110 §13.1.2: If-None-Match compares weakly, and `*` matches any current representation. */
function matches(ifNoneMatch: string, tag: string): boolean {
  return ifNoneMatch.split(',').some((candidate) => {
    const trimmed = candidate.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === tag;
  });
}

/** The server-side cache of the expensive GETs: looked up before the handler, filled when it answered 200. */
function registerResponseCache(app: FastifyInstance, options: ApiCacheOptions): void {
  const { caches } = options;
  app.addHook('onRoute', (route) => {
    const methods = [route.method].flat();
    if (methods.includes('GET') && route.url.startsWith(RESPONSE_CACHED_PREFIX) && route.config?.responseCache === undefined) {
      route.config = { ...route.config, responseCache: true };
    }
  });

  app.addHook('preHandler', async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.method !== 'GET' || !request.routeOptions.config?.responseCache) return;
    const tenantId = options.tenantOf(request);
    if (tenantId === undefined) return;
    const run = await analyticsDataVersion(options.database);
    const entry: CacheEntry = {
      base: caches.keys.value('response', tenantId, `${createHash('sha256').update(request.url).digest('base64url').slice(0, 22)}.r${run}`),
      scopes: [caches.keys.tenantScope(tenantId), caches.keys.analyticsScope(tenantId)],
      layer: 'response',
      ttlSeconds: caches.ttlSeconds,
      tenantId,
    };
    const probe = await caches.store.read(entry);
    if (probe.value !== undefined) {
      caches.metrics.count('response', 'hits', 1, tenantId);
      const cached = probe.value as CachedResponse;
      return reply.header('content-type', cached.contentType).header('x-cache', 'hit').send(cached.body);
    }
    caches.metrics.count('response', 'misses', 1, tenantId);
    reply.header('x-cache', 'miss');
    if (probe.version !== undefined) toStore.set(request, { entry, version: probe.version });
  });
}

/**
 * The HTTP layer of the cache. ETag on every successful GET and `304 Not Modified` when the client
 * already holds it (@fastify/etag does the same, but it is not a dependency and this needs the
 * metrics); and a server-side response cache for the expensive analytics GETs, keyed by tenant and
 * URL under the tenant's versions and the analytics data version.
 */
export const apiCachePlugin = fp(async (app, options: ApiCacheOptions) => {
  const { caches } = options;
  app.decorate('caches', caches);
  // Without a store nothing could be kept: no data-version query, no x-cache header.
  if (caches.backend !== 'none') registerResponseCache(app, options);

  app.addHook('onSend', async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
    const pending = toStore.get(request);
    if (pending && reply.statusCode === 200 && typeof payload === 'string') {
      const cached: CachedResponse = { body: payload, contentType: String(reply.getHeader('content-type')) };
      // Not awaited, as in readThrough: the response need not wait for Redis to confirm the copy.
      void caches.store.write(pending.entry, pending.version, cached).then((stored) => {
        if (stored) caches.metrics.count('response', 'sets', 1, pending.entry.tenantId);
      });
    }
    if (request.method !== 'GET' || reply.statusCode !== 200 || request.routeOptions.config?.etag === false || reply.hasHeader('etag')) return payload;
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return payload;
    const tag = entityTag(payload);
    reply.header('etag', tag);
    // Per caller (the Authorization header decides the body), and always revalidated: the ETag is the point.
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'private, no-cache');
    const ifNoneMatch = request.headers['if-none-match'];
    if (ifNoneMatch === undefined) return payload;
    if (!matches(ifNoneMatch, tag)) {
      caches.metrics.count('etag', 'misses', 1, options.tenantOf(request));
      return payload;
    }
    caches.metrics.count('etag', 'hits', 1, options.tenantOf(request));
    reply.code(304);
    return '';
  });
}, { name: 'strata-api-cache' });
