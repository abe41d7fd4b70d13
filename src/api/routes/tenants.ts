import { z } from 'zod';
import { tenantInput } from '../../models/tenant.js';
import { TenantRepository } from '../../repositories/tenant-repository.js';
import { createTenantWithKey } from '../../services/tenants.js';
import { decodeCursor, idCursor, idParams, page, pageQuery, toApi } from '../http.js';
import type { App, RouteOptions } from '../types.js';

export async function tenantRoutes(app: App, { database }: RouteOptions): Promise<void> {
  const tenants = new TenantRepository(database.admin);
  const config = { access: 'admin' as const };
  const tags = ['tenants'];

  app.post('/tenants', { config, schema: { tags, summary: 'Create a tenant and its first API key (shown once)', body: tenantInput } },
    async (request, reply) => {
      const { tenant, apiKey } = await createTenantWithKey(database, request.body);
      return reply.status(201).send({ data: { tenant: toApi(tenant), apiKey: toApi(apiKey) } });
    });

  app.get('/tenants', { config, schema: { tags, summary: 'List tenants', querystring: z.strictObject(pageQuery) } },
    async (request) => {
      const rows = await tenants.list({ afterId: decodeCursor(request.query.cursor, idCursor), limit: request.query.limit });
      return page(rows, request.query.limit, (row) => row.id);
    });

  app.get('/tenants/:id', { config, schema: { tags, summary: 'Get a tenant', params: idParams } },
    async (request) => ({ data: toApi(await tenants.getById(request.params.id)) }));

  app.delete('/tenants/:id', { config, schema: { tags, summary: 'Delete a tenant and all of its data', params: idParams } },
    async (request, reply) => {
      // Every cached key of the tenant is dropped after the delete commits, on every instance.
      await app.caches.invalidation.tenantDelete(request.params.id, () => tenants.delete(request.params.id));
      return reply.status(204).send();
    });
}
