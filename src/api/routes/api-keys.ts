import { z } from 'zod';
import { withTenant, type TenantTx } from '../../db/tenant.js';
import { text } from '../../models/common.js';
import { TenantRepository } from '../../repositories/tenant-repository.js';
import { issueTenantKey, listTenantKeys, revokeTenantKey } from '../../services/api-keys.js';
import { decodeCursor, idCursor, idParam, idParams, page, pageQuery, toApi } from '../http.js';
import { callerTenant } from '../auth.js';
import type { App, RouteOptions } from '../types.js';

const keyInput = z.strictObject({
  name: text(100).trim().min(1).default('default'),
  readOnly: z.boolean().default(false),
}).default({ name: 'default', readOnly: false });

export async function apiKeyRoutes(app: App, { database }: RouteOptions): Promise<void> {
  const tags = ['api-keys'];
  app.post('/api-keys', {
    schema: { tags, summary: 'Create an API key for the caller\'s tenant (the key is shown once); readOnly keys can only GET', body: keyInput },
  }, async (request, reply) => {
    const { name, readOnly } = request.body;
    const issued = await request.inTenant((trx) => issueTenantKey(trx, name, { readOnly }));
    return reply.status(201).send({ data: toApi(issued) });
  });

  app.get('/api-keys', {
    schema: { tags, summary: 'List the tenant\'s API keys (never the keys themselves), oldest first', querystring: z.strictObject(pageQuery) },
  }, async (request) => {
    const { limit, cursor } = request.query;
    const rows = await request.inTenant((trx) => listTenantKeys(trx, { afterId: decodeCursor(cursor, idCursor), limit }));
    return page(rows, limit, (row) => row.id);
  });

  app.delete('/api-keys/:id', { schema: { tags, summary: 'Revoke an API key (never the tenant\'s last read-write one)', params: idParams } },
    async (request, reply) => {
      // The tenant's sessions are bumped after the commit: the key is refused on its next request, on every instance.
      await app.caches.invalidation.apiKeyWrite(callerTenant(request),
        () => request.inTenant((trx) => revokeTenantKey(trx, request.params.id, { keepOneActive: true })));
      return reply.status(204).send();
    });

  // The admin's view of any tenant's keys: how a tenant made without the API gets a key, or one
  // locked out gets a new one.
  const tenants = new TenantRepository(database.admin);
  const config = { access: 'admin' as const };
  const asAdmin = async <T>(tenantId: number, fn: (trx: TenantTx) => Promise<T>) => {
    await tenants.getById(tenantId);
    return withTenant(database, { tenantId }, fn);
  };
  app.post('/tenants/:id/api-keys', {
    config, schema: { tags, summary: 'Create an API key for a tenant (admin; the key is shown once)', params: idParams, body: keyInput },
  }, async (request, reply) => {
    const { name, readOnly } = request.body;
    const issued = await asAdmin(request.params.id, (trx) => issueTenantKey(trx, name, { readOnly }));
    return reply.status(201).send({ data: toApi(issued) });
  });

  app.get('/tenants/:id/api-keys', {
    config, schema: { tags, summary: 'List a tenant\'s API keys (admin), oldest first', params: idParams, querystring: z.strictObject(pageQuery) },
  }, async (request) => {
    const { limit, cursor } = request.query;
    const rows = await asAdmin(request.params.id, (trx) => listTenantKeys(trx, { afterId: decodeCursor(cursor, idCursor), limit }));
    return page(rows, limit, (row) => row.id);
  });

  app.delete('/tenants/:id/api-keys/:keyId', {
    config, schema: { tags, summary: 'Revoke a tenant\'s API key (admin; its last one too)', params: z.strictObject({ id: idParam, keyId: idParam }) },
  }, async (request, reply) => {
    const { id, keyId } = request.params;
    await app.caches.invalidation.apiKeyWrite(id, () => asAdmin(id, (trx) => revokeTenantKey(trx, keyId)));
    return reply.status(204).send();
  });
}
