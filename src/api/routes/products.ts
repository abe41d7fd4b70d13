import { z } from 'zod';
import { apiSchema } from '../../models/api-spelling.js';
import { StrataError } from '../../errors.js';
import { inventoryDelta, productInput, productPatch, tag } from '../../models/catalog.js';
import { InventoryRepository } from '../../repositories/inventory-repository.js';
import { ProductRepository } from '../../repositories/product-repository.js';
import { ingestOnce } from '../ingest.js';
import { decodeCursor, idCursor, idParams, page, pageQuery, toApi } from '../http.js';
import type { App } from '../types.js';

const listQuery = z.strictObject({
  ...pageQuery,
  q: z.string().min(1).max(200).optional(),
  tag: tag.optional(),
  active: z.enum(['true', 'false']).transform((value) => value === 'true').optional(),
}).superRefine((query, context) => {
  // The search and the tag lookup take no other filter: refusing one beats silently ignoring it.
  const ignored = query.q !== undefined ? (['cursor', 'tag', 'active'] as const) : query.tag !== undefined ? (['active'] as const) : [];
  for (const key of ignored) {
    if (query[key] !== undefined) context.addIssue({ code: 'custom', path: [key], message: `cannot be combined with ${query.q !== undefined ? 'q' : 'tag'}` });
  }
});

const quantityLimit = 2_147_483_647;

/** A delta within bounds can still carry the stock past the int4 column: a data rule, not bad input. */
function stockOverflow(error: unknown): StrataError | undefined {
  const cause = error instanceof StrataError ? (error.cause as { code?: unknown } | undefined) : undefined;
  if (cause?.code !== '22003') return undefined;
  return new StrataError('CHECK_VIOLATION', `the quantity would exceed ${quantityLimit}`,
    [{ path: 'delta', message: `would take the quantity above ${quantityLimit}` }], { cause: error });
}

export async function productRoutes(app: App): Promise<void> {
  const tags = ['products'];

  app.post('/products', { schema: { tags, summary: 'Create a product', body: apiSchema(productInput, { storableText: true }) } },
    async (request, reply) => {
      return reply.status(201).send({ data: toApi(await request.inTenant((trx) => new ProductRepository(trx).create(request.body))) });
    });

  app.get('/products', { schema: { tags, summary: 'List products; q= full-text search, tag= by tag', querystring: listQuery } },
    async (request) => {
      const { limit, cursor, q, tag: byTag, active } = request.query;
      if (q !== undefined) {
        const found = await request.inTenant((trx) => new ProductRepository(trx).search(q, { limit }));
        return { data: found.map(toApi), nextCursor: null };
      }
      const afterId = decodeCursor(cursor, idCursor);
      const rows = await request.inTenant((trx) => {
        const repository = new ProductRepository(trx);
        return (byTag !== undefined
        ? repository.findByTag(byTag, { afterId, limit })
        : repository.list({ afterId, limit, active }));
      });
      return page(rows, limit, (row) => row.id);
    });

  app.get('/products/:id', { schema: { tags, summary: 'Get a product', params: idParams } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new ProductRepository(trx).get(request.params.id))) }));

  app.patch('/products/:id', { schema: { tags, summary: 'Change a product', params: idParams, body: apiSchema(productPatch, { storableText: true }) } },
    async (request) => {
      return { data: toApi(await request.inTenant((trx) => new ProductRepository(trx).update(request.params.id, request.body))) };
    });

  app.delete('/products/:id', { schema: { tags, summary: 'Delete a product and its inventory', params: idParams } },
    async (request, reply) => {
      await request.inTenant((trx) => new ProductRepository(trx).delete(request.params.id));
      return reply.status(204).send();
    });

  app.get('/products/:id/inventory', { schema: { tags, summary: 'Get a product\'s stock', params: idParams } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new InventoryRepository(trx).get(request.params.id))) }));

  app.post('/products/:id/inventory/adjust', {
    schema: {
      tags,
      summary: 'Change stock by a non-zero delta, atomically; never below zero',
      description: 'Send an `Idempotency-Key` header to make a retry safe: an adjustment already applied under that key is not '
        + 'applied again, and the retry gets the first response (with `Idempotent-Replayed: true`).',
      params: idParams,
      body: z.strictObject({ delta: inventoryDelta.refine((delta) => delta !== 0, 'must not be 0: an adjustment changes the stock') }),
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const { delta } = request.body;
    try {
      // The product is part of the request: one key reused for another product is refused, not replayed.
      return await ingestOnce(request, reply, 'inventory-adjust', { productId: id, delta }, async (trx) =>
        ({ statusCode: 200, body: { data: toApi(await new InventoryRepository(trx).adjust(id, delta)) } }));
    } catch (error) {
      throw stockOverflow(error) ?? error;
    }
  });
}
