import fastifyHelmet from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';

/**
 * The dashboard (built from web/) loads one stylesheet and one module script from its own origin and only
 * fetches /v1, with no inline script, style or handler: everything else is refused. Helmet's
 * upgrade-insecure-requests is left out because Strata is often served over plain HTTP on a LAN
 * address, where it would send the dashboard's own files to an https:// port nobody listens on.
 */
export const contentSecurityPolicy = {
  useDefaults: false,
  directives: {
    'default-src': ["'self'"],
    'base-uri': ["'self'"],
    'connect-src': ["'self'"],
    'font-src': ["'self'"],
    'form-action': ["'self'"],
    'frame-ancestors': ["'none'"],
    'img-src': ["'self'", 'data:'],
    'object-src': ["'none'"],
    'script-src': ["'self'"],
    'script-src-attr': ["'none'"],
    'style-src': ["'self'"],
  },
};

/**
 * Swagger UI styles its elements with inline style attributes and draws icons as data: URLs, so
 * /docs alone allows inline styles (scripts stay same-origin only).
 */
export const docsContentSecurityPolicy = {
  useDefaults: false,
  directives: {
    ...contentSecurityPolicy.directives,
    'style-src': ["'self'", "'unsafe-inline'"],
  },
};

/** Helmet's headers on every response; routes in a context marked with docsHeaders get the docs' CSP. */
export async function securityHeaders(app: FastifyInstance): Promise<void> {
  await app.register(fastifyHelmet, { contentSecurityPolicy });
}

/** For the context that serves Swagger UI: its routes take the relaxed policy. */
export function docsHeaders(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, helmet: { contentSecurityPolicy: docsContentSecurityPolicy } } as typeof route.config;
  });
}
