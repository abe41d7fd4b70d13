import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  profileInput, settingsObject, userCreateInput, userPatch, type SettingsInput, type UserCreateInput,
} from '../../models/user.js';
import { text } from '../../models/common.js';
import { UserRepository } from '../../repositories/user-repository.js';
import { camelCaseBody, toSnakeCase } from '../casing.js';
import {
  callerTenant, decodeCursor, idCursor, idParams, page, pageQuery, scoped, toApi,
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

export async function userRoutes(app: App): Promise<void> {
  const tags = ['users'];
  const users = scoped(UserRepository);
  // A write that changes what /users/:id/full shows: the cached profile's version is bumped after its commit.
  const changeUser = <T>(request: FastifyRequest, userId: number, fn: (repository: UserRepository) => Promise<T>) =>
    app.caches.invalidation.userWrite(callerTenant(request), userId, () => users(request, fn));

  app.post('/users', { schema: { tags, summary: 'Create a user, with an optional profile and settings', body: camelCaseBody(userCreateInput, ['profile']) } },
    async (request, reply) => {
      const input = toSnakeCase(request.body, ['profile']) as UserCreateInput;
      const user = await users(request, (repository) => repository.create(input));
      return reply.status(201).send({ data: toApi(user) });
    });

  app.get('/users', { schema: { tags, summary: 'List users (keyset-paginated); q= searches username and email', querystring: listQuery } },
    async (request) => {
      const { limit, cursor, active, email, q } = request.query;
      if (q !== undefined) {
        const found = await users(request, (repository) => repository.search(q, limit));
        return { data: found.map(toApi), nextCursor: null };
      }
      const afterId = decodeCursor(cursor, idCursor);
      const rows = await users(request, (repository) => repository.list({ afterId, limit, active, email }));
      return page(rows, limit, (row) => row.id);
    });

  app.get('/users/:id', { schema: { tags, summary: 'Get a user with its profile', params: idParams } },
    async (request) => ({ data: toApi(await users(request, (repository) => repository.getById(request.params.id))) }));

  app.patch('/users/:id', { schema: { tags, summary: 'Change a user', params: idParams, body: camelCaseBody(userPatch) } },
    async (request) => {
      const patch = toSnakeCase(request.body);
      return { data: toApi(await changeUser(request, request.params.id, (repository) => repository.update(request.params.id, patch))) };
    });

  app.delete('/users/:id', { schema: { tags, summary: 'Delete a user (profile, settings, memberships and activity go with it)', params: idParams } },
    async (request, reply) => {
      // The user's active days cascade with it: cached analytics must not outlive them.
      await app.caches.invalidation.userDelete(callerTenant(request), request.params.id,
        () => users(request, (repository) => repository.delete(request.params.id)));
      return reply.status(204).send();
    });

  app.get('/users/:id/full', { schema: { tags, summary: 'Get a user with its profile and settings (cached: no query on a hit)', params: idParams } },
    async (request) => ({ data: toApi(await app.caches.query.userProfile(callerTenant(request), request.params.id)) }));

  app.get('/users/:id/profile', { schema: { tags, summary: 'Get a user\'s profile', params: idParams } },
    async (request) => ({ data: toApi(await users(request, (repository) => repository.getProfile(request.params.id))) }));

  app.put('/users/:id/profile', { schema: { tags, summary: 'Replace a user\'s profile', params: idParams, body: camelCaseBody(profileInput) } },
    async (request) => {
      const input = toSnakeCase(request.body);
      return { data: toApi(await changeUser(request, request.params.id, (repository) => repository.putProfile(request.params.id, input))) };
    });

  app.get('/users/:id/settings', { schema: { tags, summary: 'Get a user\'s settings', params: idParams } },
    async (request) => ({ data: await users(request, (repository) => repository.getSettings(request.params.id)) }));

  app.patch('/users/:id/settings', { schema: { tags, summary: 'Merge into a user\'s settings (JSON merge patch: null removes a key)', params: idParams, body: settingsObject } },
    async (request) => ({ data: await changeUser(request, request.params.id, (repository) => repository.mergeSettings(request.params.id, request.body as SettingsInput)) }));
}
