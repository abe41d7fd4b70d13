import { z } from 'zod';
import { projectInput, projectMemberRole, projectPatch, projectStatus, type ProjectInput } from '../../models/project.js';
import { ProjectRepository } from '../../repositories/project-repository.js';
import { camelCaseBody, toSnakeCase } from '../casing.js';
import { decodeCursor, idCursor, idParam, idParams, page, pageQuery, scoped, toApi } from '../http.js';
import type { App } from '../types.js';

const memberParams = z.strictObject({ id: idParam, userId: idParam });
const listQuery = z.strictObject({ ...pageQuery, status: projectStatus.optional(), organizationId: idParam.optional() });

export async function projectRoutes(app: App): Promise<void> {
  const projects = scoped(ProjectRepository);
  const tags = ['projects'];

  app.post('/projects', { schema: { tags, summary: 'Create a project', body: camelCaseBody(projectInput) } },
    async (request, reply) => {
      const input = toSnakeCase(request.body) as ProjectInput;
      return reply.status(201).send({ data: toApi(await projects(request, (repository) => repository.create(input))) });
    });

  app.get('/projects', { schema: { tags, summary: 'List projects, by status or organization', querystring: listQuery } },
    async (request) => {
      const { limit, cursor, status, organizationId } = request.query;
      const rows = await projects(request, (repository) => repository.list({ afterId: decodeCursor(cursor, idCursor), limit, status, organizationId }));
      return page(rows, limit, (row) => row.id);
    });

  app.get('/projects/:id', { schema: { tags, summary: 'Get a project', params: idParams } },
    async (request) => ({ data: toApi(await projects(request, (repository) => repository.getById(request.params.id))) }));

  app.patch('/projects/:id', { schema: { tags, summary: 'Change a project', params: idParams, body: camelCaseBody(projectPatch) } },
    async (request) => {
      const patch = toSnakeCase(request.body);
      return { data: toApi(await projects(request, (repository) => repository.update(request.params.id, patch))) };
    });

  app.delete('/projects/:id', { schema: { tags, summary: 'Delete a project', params: idParams } },
    async (request, reply) => {
      await projects(request, (repository) => repository.delete(request.params.id));
      return reply.status(204).send();
    });

  app.get('/projects/:id/members', { schema: { tags, summary: 'List a project\'s members', params: idParams } },
    async (request) => ({
      data: (await projects(request, async (repository) => {
        await repository.getById(request.params.id);
        return repository.listMembers(request.params.id);
      })).map(toApi),
    }));

  app.put('/projects/:id/members/:userId', {
    schema: { tags, summary: 'Add a user to a project or change their role', params: memberParams, body: z.strictObject({ role: projectMemberRole }) },
  }, async (request) => ({
    data: toApi(await projects(request, (repository) => repository.putMember(request.params.id, request.params.userId, request.body.role))),
  }));

  app.delete('/projects/:id/members/:userId', { schema: { tags, summary: 'Remove a user from a project', params: memberParams } },
    async (request, reply) => {
      await projects(request, (repository) => repository.removeMember(request.params.id, request.params.userId));
      return reply.status(204).send();
    });
}
