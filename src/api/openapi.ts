import { errorCatalogue } from '../errors.js';

/** The OpenAPI document's fixed parts; the paths come from the routes' zod schemas. */
export const openApiInfo = {
  openapi: '3.0.3',
  info: {
    title: 'Strata API',
    description: 'Multi-tenant data platform. Authenticate with `Authorization: Bearer <key>`: an admin key manages '
      + 'tenants, a tenant key sees only its tenant. Errors are `{ error: { code, message, details } }` with a stable code '
      + '(at most 20 details, and `detailsTotal` when there were more).',
    version: '0.1.0',
  },
  components: {
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
