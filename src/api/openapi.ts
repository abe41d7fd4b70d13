import { errorCatalogue } from '../errors.js';
import { requestParameters, responseHeaders } from './contract/document.js';

/** The OpenAPI document's fixed parts; the paths come from the routes' zod schemas. */
export const openApiInfo = {
  openapi: '3.0.3',
  info: {
    title: 'Strata API',
    description: 'Multi-tenant data platform. Authenticate with `Authorization: Bearer <key>`: an admin key manages '
      + 'tenants, a tenant key sees only its tenant. Errors are `{ error: { code, message, details } }` with a stable code '
      + '(at most 20 details, and `detailsTotal` when there were more).',
    version: '0.1.0',
    license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
    contact: { name: 'Strata', url: 'https://github.com/strata-platform/strata' },
  },
  servers: [{ url: 'http://127.0.0.1:3000', description: 'A local `strata serve` (PORT, default 3000)' }],
  tags: [
    { name: 'operations', description: 'Liveness, readiness and Prometheus metrics.' },
    { name: 'tenants', description: 'Tenants (admin key).' },
    { name: 'api-keys', description: 'API keys of the caller\'s tenant, and of any tenant with the admin key.' },
    { name: 'users', description: 'Users, their profiles and settings.' },
    { name: 'organizations', description: 'Organizations, their teams and team members.' },
    { name: 'projects', description: 'Projects and their members.' },
    { name: 'products', description: 'The product catalog and its inventory.' },
    { name: 'activities', description: 'The activity log: batch ingest and keyset-paginated reads.' },
    { name: 'events', description: 'Product events, stored once per client id.' },
    { name: 'audit', description: 'Who changed what, from the audit triggers.' },
    { name: 'analytics', description: 'Summaries built by the analytics pipeline, and reports.' },
  ],
  components: {
    headers: responseHeaders,
    parameters: requestParameters,
    securitySchemes: { bearer: { type: 'http' as const, scheme: 'bearer' } },
    schemas: {
      Error: {
        type: 'object' as const,
        required: ['error'],
        properties: {
          error: {
            type: 'object' as const,
            required: ['code', 'message', 'details'],
            properties: {
              code: { type: 'string' as const, enum: Object.keys(errorCatalogue) },
              message: { type: 'string' as const },
              // Each names the field it concerns as the API spells it ("email", "profile.avatarUrl",
              // "(root)"), never a database column or constraint.
              details: {
                type: 'array' as const,
                items: {
                  type: 'object' as const,
                  required: ['message'],
                  properties: { path: { type: 'string' as const }, message: { type: 'string' as const } },
                },
              },
              detailsTotal: { type: 'integer' as const, description: 'How many details there were, when more than the 20 shown.' },
            },
          },
        },
      },
    },
  },
  security: [{ bearer: [] }],
};
