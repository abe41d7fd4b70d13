import { z } from 'zod';
import { text } from '../../models/common.js';
import { issueTenantKey, listTenantKeys, revokeTenantKey } from '../../services/api-keys.js';
import { decodeCursor, idCursor, idParams, page, pageQuery, toApi } from '../http.js';
import type { App } from '../types.js';

export async function apiKeyRoutes(app: App): Promise<void> {
  const tags = ['api-keys'];
  app.post('/api-keys', {
    schema: { tags, summary: 'Create an API key for the caller\'s tenant (the key is shown once)', body: z.strictObject({ name: text(100).trim().min(1).default('default') }).default({ name: 'default' }) },
  }, async (request, reply) => {
    const issued = await request.inTenant((trx) => issueTenantKey(trx, request.body.name));
    return reply.status(201).send({ data: toApi(issued) });
  });

  app.get('/api-keys', {
    schema: { tags, summary: 'List the tenant\'s API keys (never the keys themselves), oldest first', querystring: z.strictObject(pageQuery) },
  }, async (request) => {
    const { limit, cursor } = request.query;
    const rows = await request.inTenant((trx) => listTenantKeys(trx, { afterId: decodeCursor(cursor, idCursor), limit }));
    return page(rows, limit, (row) => row.id);
  });

  app.delete('/api-keys/:id', { schema: { tags, summary: 'Revoke an API key', params: idParams } },
    async (request, reply) => {
      // The tenant's sessions are bumped after the commit: the key is refused on its next request, on every instance.
      const tenantId = request.principal?.kind === 'tenant' ? request.principal.tenantId : 0;
      await app.caches.invalidation.apiKeyWrite(tenantId, () => request.inTenant((trx) => revokeTenantKey(trx, request.params.id)));
      return reply.status(204).send();
    });
}
