import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  profileInput, settingsObject, userCreateInput, userPatch,
} from '../../models/user.js';
import { apiSchema } from '../../models/api-spelling.js';
import { text } from '../../models/common.js';
import { UserRepository } from '../../repositories/user-repository.js';
import { callerTenant } from '../auth.js';
import {
  decodeCursor, idCursor, idParams, page, pageQuery, presenter, toApi,
} from '../http.js';
import type { App } from '../types.js';

const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');
const listQuery = z.strictObject({
  ...pageQuery,
  active: booleanQuery.optional(),
  email: text(254).optional(),
  q: z.string().min(1).max(200).optional(),
}).superRefine((query, context) => {
  // A search is not paginated nor filtered: a filter it would silently drop is refused instead.
  if (query.q === undefined) return;
  for (const key of ['cursor', 'active', 'email'] as const) {
    if (query[key] !== undefined) context.addIssue({ code: 'custom', path: [key], message: `cannot be combined with q` });
  }
});

/** A user row with its profile row nested; settings are the client's JSON and keep their keys. */
const presentUser = presenter({ nested: ['profile'] });

export async function userRoutes(app: App): Promise<void> {
  const tags = ['users'];
  // A write that changes what /users/:id/full shows: the cached profile's version is bumped after its commit.
  const changeUser = <T>(request: FastifyRequest, userId: number, fn: (repository: UserRepository) => Promise<T>) =>
    app.caches.invalidation.userWrite(callerTenant(request), userId, () => request.inTenant((trx) => fn(new UserRepository(trx))));

  app.post('/users', { schema: { tags, summary: 'Create a user, with an optional profile and settings', body: apiSchema(userCreateInput, { nested: ['profile'], storableText: true }) } },
    async (request, reply) => {
      const user = await request.inTenant((trx) => new UserRepository(trx).create(request.body));
      return reply.status(201).send({ data: presentUser(user) });
    });

  app.get('/users', { schema: { tags, summary: 'List users (keyset-paginated); q= searches username and email', querystring: listQuery } },
    async (request) => {
      const { limit, cursor, active, email, q } = request.query;
      if (q !== undefined) {
        const found = await request.inTenant((trx) => new UserRepository(trx).search(q, limit));
        return { data: found.map(presentUser), nextCursor: null };
      }
      const afterId = decodeCursor(cursor, idCursor);
      const rows = await request.inTenant((trx) => new UserRepository(trx).list({ afterId, limit, active, email }));
      return page(rows, limit, (row) => row.id, presentUser);
    });

  app.get('/users/:id', { schema: { tags, summary: 'Get a user with its profile', params: idParams } },
    async (request) => ({ data: presentUser(await request.inTenant((trx) => new UserRepository(trx).getById(request.params.id))) }));

  app.patch('/users/:id', { schema: { tags, summary: 'Change a user', params: idParams, body: apiSchema(userPatch, { storableText: true }) } },
    async (request) => {
      return { data: presentUser(await changeUser(request, request.params.id, (repository) => repository.update(request.params.id, request.body))) };
    });

  app.delete('/users/:id', { schema: { tags, summary: 'Delete a user (profile, settings, memberships and activity go with it)', params: idParams } },
    async (request, reply) => {
      // The user's active days cascade with it: cached analytics must not outlive them.
      await app.caches.invalidation.userDelete(callerTenant(request), request.params.id,
        () => request.inTenant((trx) => new UserRepository(trx).delete(request.params.id)));
      return reply.status(204).send();
    });

  app.get('/users/:id/full', { schema: { tags, summary: 'Get a user with its profile and settings (cached: no query on a hit)', params: idParams } },
    async (request) => ({ data: presentUser(await app.caches.query.userProfile(callerTenant(request), request.params.id)) }));

  app.get('/users/:id/profile', { schema: { tags, summary: 'Get a user\'s profile', params: idParams } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new UserRepository(trx).getProfile(request.params.id))) }));

  app.put('/users/:id/profile', { schema: { tags, summary: 'Replace a user\'s profile', params: idParams, body: apiSchema(profileInput, { storableText: true }) } },
    async (request) => {
      return { data: toApi(await changeUser(request, request.params.id, (repository) => repository.putProfile(request.params.id, request.body))) };
    });

  app.get('/users/:id/settings', { schema: { tags, summary: 'Get a user\'s settings', params: idParams } },
    async (request) => ({ data: await request.inTenant((trx) => new UserRepository(trx).getSettings(request.params.id)) }));

  app.patch('/users/:id/settings', { schema: { tags, summary: 'Merge into a user\'s settings (JSON merge patch: null removes a key)', params: idParams, body: settingsObject } },
    async (request) => ({ data: await changeUser(request, request.params.id, (repository) => repository.mergeSettings(request.params.id, request.body)) }));
}
