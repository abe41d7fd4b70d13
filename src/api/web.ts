import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { publicByDefault } from './auth.js';
import { ensureWebBuilt, webDist } from './web-build.js';

/**
 * The dashboard: the bundle built from `web/` (at install, or here when missing or older than its
 * sources), served under /dashboard/; it talks to the same /v1 API with the key signed in with.
 */
export async function dashboard(app: FastifyInstance): Promise<void> {
  publicByDefault(app);
  await ensureWebBuilt();
  await app.register(fastifyStatic, { root: webDist, prefix: '/dashboard/', decorateReply: false, index: 'index.html' });
  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, (_request, reply) => reply.redirect('/dashboard/'));
  app.get('/favicon.ico', { config: { access: 'public' }, schema: { hide: true } }, (_request, reply) => reply.redirect('/dashboard/favicon.svg'));
}
