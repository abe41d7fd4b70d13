import { z } from 'zod';
import { apiSchema } from '../../models/api-spelling.js';
import {
  membershipRole, organizationInput, organizationPatch, teamInput, teamPatch,
} from '../../models/organization.js';
import { OrganizationRepository } from '../../repositories/organization-repository.js';
import { decodeCursor, idCursor, idParam, idParams, page, pageQuery, toApi } from '../http.js';
import type { App } from '../types.js';

const memberParams = z.strictObject({ id: idParam, userId: idParam });
const organizationBody = apiSchema(organizationInput, { storableText: true });
const organizationPatchBody = apiSchema(organizationPatch, { storableText: true });
const teamBody = apiSchema(teamInput, { storableText: true });
const teamPatchBody = apiSchema(teamPatch, { storableText: true });

export async function organizationRoutes(app: App): Promise<void> {
  const tags = ['organizations'];

  app.post('/organizations', { schema: { tags, summary: 'Create an organization', body: organizationBody } },
    async (request, reply) => reply.status(201)
      .send({ data: toApi(await request.inTenant((trx) => new OrganizationRepository(trx).create(request.body))) }));

  app.get('/organizations', { schema: { tags, summary: 'List organizations', querystring: z.strictObject(pageQuery) } },
    async (request) => {
      const { limit, cursor } = request.query;
      const rows = await request.inTenant((trx) => new OrganizationRepository(trx).list({ afterId: decodeCursor(cursor, idCursor), limit }));
      return page(rows, limit, (row) => row.id);
    });

  app.get('/organizations/:id', { schema: { tags, summary: 'Get an organization', params: idParams } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new OrganizationRepository(trx).getById(request.params.id))) }));

  app.patch('/organizations/:id', { schema: { tags, summary: 'Change an organization', params: idParams, body: organizationPatchBody } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new OrganizationRepository(trx).update(request.params.id, request.body))) }));

  app.delete('/organizations/:id', { schema: { tags, summary: 'Delete an organization and its teams', params: idParams } },
    async (request, reply) => {
      await request.inTenant((trx) => new OrganizationRepository(trx).delete(request.params.id));
      return reply.status(204).send();
    });

  app.post('/organizations/:id/teams', { schema: { tags, summary: 'Create a team in an organization', params: idParams, body: teamBody } },
    async (request, reply) => reply.status(201)
      .send({ data: toApi(await request.inTenant((trx) => new OrganizationRepository(trx).createTeam(request.params.id, request.body))) }));

  app.get('/organizations/:id/teams', { schema: { tags, summary: 'List an organization\'s teams with their members', params: idParams } },
    async (request) => {
      const teams = await request.inTenant(async (trx) => {
        const repository = new OrganizationRepository(trx);
        await repository.getById(request.params.id);
        return repository.teamsWithMembers(request.params.id);
      });
      return { data: teams.map((team) => ({ ...toApi(team), members: team.members.map(toApi) })) };
    });

  app.get('/teams/:id', { schema: { tags, summary: 'Get a team', params: idParams } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new OrganizationRepository(trx).getTeam(request.params.id))) }));

  app.patch('/teams/:id', { schema: { tags, summary: 'Change a team', params: idParams, body: teamPatchBody } },
    async (request) => ({ data: toApi(await request.inTenant((trx) => new OrganizationRepository(trx).updateTeam(request.params.id, request.body))) }));

  app.delete('/teams/:id', { schema: { tags, summary: 'Delete a team', params: idParams } },
    async (request, reply) => {
      await request.inTenant((trx) => new OrganizationRepository(trx).deleteTeam(request.params.id));
      return reply.status(204).send();
    });

  app.get('/teams/:id/members', { schema: { tags, summary: 'List a team\'s members', params: idParams } },
    async (request) => ({
      data: (await request.inTenant(async (trx) => {
        const repository = new OrganizationRepository(trx);
        await repository.getTeam(request.params.id);
        return repository.listMembers(request.params.id);
      })).map(toApi),
    }));

  app.put('/teams/:id/members/:userId', {
    schema: { tags, summary: 'Add a user to a team or change their role', params: memberParams, body: z.strictObject({ role: membershipRole }) },
  }, async (request) => ({
    data: toApi(await request.inTenant((trx) => new OrganizationRepository(trx).putMember(request.params.id, request.params.userId, request.body.role))),
  }));

  app.delete('/teams/:id/members/:userId', { schema: { tags, summary: 'Remove a user from a team', params: memberParams } },
    async (request, reply) => {
      await request.inTenant((trx) => new OrganizationRepository(trx).removeMember(request.params.id, request.params.userId));
      return reply.status(204).send();
    });
}
