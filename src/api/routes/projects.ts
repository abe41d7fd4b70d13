import { z } from 'zod';
import { apiSchema } from '../../models/api-spelling.js';
import { projectInput, projectMemberRole, projectPatch, projectStatus } from '../../models/project.js';
import { ProjectRepository } from '../../repositories/project-repository.js';
import { decodeCursor, idCursor, idParam, idParams, page, pageQuery, toApi } from '../http.js';
import type { App } from '../types.js';

const memberParams = z.strictObject({ id: idParam, userId: idParam });
const listQuery = z.strictObject({ ...pageQuery, status: projectStatus.optional(), organizationId: idParam.optional() });

export async function projectRoutes(app: App): Promise<void> {
  const tags = ['projects'];

  app.post('/projects', { schema: { tags, summary: 'Create a project', body: apiSchema(projectInput, { storableText: true }) } },
    async (request, reply) => {
      return reply.status(201).send({ data: toApi(await request.inTenant((trx) => new ProjectRepository(trx).create(request.body))) });
    });

  app.get('/projects', { schema: { tags, summary: 'List projects, by status or organization', querystring: listQuery } },
    async (request) => {
      const { limit, cursor, status, organizationId } = request.query;
      const rows = await request.inTenant((trx) => new ProjectRepository(trx).list({ afterId: decodeCursor(cursor, idCursor), limit, status, organizationId }));
      return page(rows, limit, (row) => row.id);
    });

  app.get('/projects/:id', { schema: { tags, summary: 'Get a project', params: idParams } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new ProjectRepository(trx).getById(request.params.id))) }));

  app.patch('/projects/:id', { schema: { tags, summary: 'Change a project', params: idParams, body: apiSchema(projectPatch, { storableText: true }) } },
    async (request) => {
      return { data: toApi(await request.inTenant((trx) => new ProjectRepository(trx).update(request.params.id, request.body))) };
    });

  app.delete('/projects/:id', { schema: { tags, summary: 'Delete a project', params: idParams } },
    async (request, reply) => {
      await request.inTenant((trx) => new ProjectRepository(trx).delete(request.params.id));
      return reply.status(204).send();
    });

  app.get('/projects/:id/members', { schema: { tags, summary: 'List a project\'s members', params: idParams } },
    async (request) => ({
      data: (await request.inTenant(async (trx) => {
        const repository = new ProjectRepository(trx);
        await repository.getById(request.params.id);
        return repository.listMembers(request.params.id);
      })).map(toApi),
    }));

  app.put('/projects/:id/members/:userId', {
    schema: { tags, summary: 'Add a user to a project or change their role', params: memberParams, body: z.strictObject({ role: projectMemberRole }) },
  }, async (request) => ({
    data: toApi(await request.inTenant((trx) => new ProjectRepository(trx).putMember(request.params.id, request.params.userId, request.body.role))),
  }));

  app.delete('/projects/:id/members/:userId', { schema: { tags, summary: 'Remove a user from a project', params: memberParams } },
    async (request, reply) => {
      await request.inTenant((trx) => new ProjectRepository(trx).removeMember(request.params.id, request.params.userId));
      return reply.status(204).send();
    });
}
