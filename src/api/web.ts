import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { publicByDefault } from './auth.js';

// The static files stay in src/web/, also for the compiled dist/api/: both sit at the same depth.
const webRoot = fileURLToPath(new URL('../../src/web/', import.meta.url));

/** The dashboard: static files under /dashboard/, talking to the same /v1 API with a tenant key. */
export async function dashboard(app: FastifyInstance): Promise<void> {
  publicByDefault(app);
  await app.register(fastifyStatic, { root: webRoot, prefix: '/dashboard/', decorateReply: false, index: 'index.html' });
  app.get('/', { config: { access: 'public' }, schema: { hide: true } }, (_request, reply) => reply.redirect('/dashboard/'));
}
