import type { z } from 'zod';
import type { ErrorCode } from '../../errors.js';
import * as r from './resources.js';

export interface OperationContract {
  /** Unique across the document: what a generated client names the call. */
  operationId: string;
  /** The success status and its body (null: no body, as 204). */
  status: number;
  body: z.ZodType | null;
  /** Codes this operation answers besides those every operation of its kind can (see errorsOf). */
  errors?: ErrorCode[];
  /** Stores at most once per `Idempotency-Key`. */
  idempotent?: boolean;
}

const get = (operationId: string, body: z.ZodType, errors?: ErrorCode[]): OperationContract => ({ operationId, status: 200, body, errors });
const create = (operationId: string, body: z.ZodType, errors?: ErrorCode[]): OperationContract => ({ operationId, status: 201, body, errors });
const remove = (operationId: string, errors?: ErrorCode[]): OperationContract => ({ operationId, status: 204, body: null, errors });

/** Every operation, keyed `METHOD /path` as the document spells it; a test keeps it and the routes in step. */
export const operations: Record<string, OperationContract> = {
  'GET /health': get('getHealth', r.health),
  'GET /ready': get('getReadiness', r.health),
  'GET /metrics': get('getMetrics', r.health),
  'POST /v1/tenants': create('createTenant', r.one(r.tenantWithKey()), ['CONFLICT']),
  'GET /v1/tenants': get('listTenants', r.paged(r.tenant)),
  'GET /v1/tenants/{id}': get('getTenant', r.one(r.tenant)),
  'DELETE /v1/tenants/{id}': remove('deleteTenant'),
  'POST /v1/api-keys': create('createApiKey', r.one(r.issuedApiKey)),
  'GET /v1/api-keys': get('listApiKeys', r.paged(r.apiKey)),
  'DELETE /v1/api-keys/{id}': remove('revokeApiKey', ['LAST_ACTIVE_KEY']),
  'POST /v1/tenants/{id}/api-keys': create('createTenantApiKey', r.one(r.issuedApiKey)),
  'GET /v1/tenants/{id}/api-keys': get('listTenantApiKeys', r.paged(r.apiKey)),
  'DELETE /v1/tenants/{id}/api-keys/{keyId}': remove('revokeTenantApiKey'),
  'GET /v1/analytics/metrics': get('getMetricSeries', r.withLineage),
  'GET /v1/analytics/active-users': get('getActiveUsers', r.withLineage),
  'GET /v1/analytics/retention': get('getRetention', r.withLineage),
  'GET /v1/etl-runs': get('listEtlRuns', r.etlRunPage),
  'GET /v1/etl-runs/{id}': get('getEtlRun', r.one(r.etlRunWithRows)),
  'GET /v1/cache-stats': get('getTenantCacheStats', r.tenantCacheStats),
  'GET /v1/reports': get('listReports', r.paged(r.report)),
  'POST /v1/reports': create('createReport', r.one(r.report)),
  'GET /v1/reports/{id}': get('getReport', r.one(r.report)),
  'POST /v1/users': create('createUser', r.one(r.user), ['CONFLICT']),
  'GET /v1/users': get('listUsers', r.paged(r.user)),
  'GET /v1/users/{id}': get('getUser', r.one(r.user)),
  'PATCH /v1/users/{id}': get('updateUser', r.one(r.user), ['CONFLICT']),
  'DELETE /v1/users/{id}': remove('deleteUser'),
  'GET /v1/users/{id}/full': get('getUserWithSettings', r.one(r.userWithSettings)),
  'GET /v1/users/{id}/profile': get('getProfile', r.one(r.profile)),
  'PUT /v1/users/{id}/profile': get('replaceProfile', r.one(r.profile)),
  'GET /v1/users/{id}/settings': get('getSettings', r.one(r.settings)),
  'PATCH /v1/users/{id}/settings': get('mergeSettings', r.one(r.settings)),
  'POST /v1/organizations': create('createOrganization', r.one(r.organization), ['CONFLICT']),
  'GET /v1/organizations': get('listOrganizations', r.paged(r.organization)),
  'GET /v1/organizations/{id}': get('getOrganization', r.one(r.organization)),
  'PATCH /v1/organizations/{id}': get('updateOrganization', r.one(r.organization), ['CONFLICT']),
  'DELETE /v1/organizations/{id}': remove('deleteOrganization'),
  'POST /v1/organizations/{id}/teams': create('createTeam', r.one(r.team), ['CONFLICT']),
  'GET /v1/organizations/{id}/teams': get('listTeams', r.list(r.teamWithMembers)),
  'GET /v1/teams/{id}': get('getTeam', r.one(r.team)),
  'PATCH /v1/teams/{id}': get('updateTeam', r.one(r.team), ['CONFLICT']),
  'DELETE /v1/teams/{id}': remove('deleteTeam'),
  'GET /v1/teams/{id}/members': get('listTeamMembers', r.list(r.member)),
  'PUT /v1/teams/{id}/members/{userId}': get('putTeamMember', r.one(r.membership)),
  'DELETE /v1/teams/{id}/members/{userId}': remove('removeTeamMember'),
  'POST /v1/projects': create('createProject', r.one(r.project), ['CONFLICT']),
  'GET /v1/projects': get('listProjects', r.paged(r.project)),
  'GET /v1/projects/{id}': get('getProject', r.one(r.project)),
  'PATCH /v1/projects/{id}': get('updateProject', r.one(r.project), ['CONFLICT']),
  'DELETE /v1/projects/{id}': remove('deleteProject'),
  'GET /v1/projects/{id}/members': get('listProjectMembers', r.list(r.member)),
  'PUT /v1/projects/{id}/members/{userId}': get('putProjectMember', r.one(r.membership)),
  'DELETE /v1/projects/{id}/members/{userId}': remove('removeProjectMember'),
  'POST /v1/products': create('createProduct', r.one(r.product), ['CONFLICT']),
  'GET /v1/products': get('listProducts', r.paged(r.product)),
  'GET /v1/products/{id}': get('getProduct', r.one(r.product)),
  'PATCH /v1/products/{id}': get('updateProduct', r.one(r.product), ['CONFLICT']),
  'DELETE /v1/products/{id}': remove('deleteProduct'),
  'GET /v1/products/{id}/inventory': get('getInventory', r.one(r.inventory)),
  'POST /v1/products/{id}/inventory/adjust': { ...get('adjustInventory', r.one(r.inventory), ['INSUFFICIENT_INVENTORY']), idempotent: true },
  'POST /v1/activities': { ...create('recordActivities', r.one(r.ingested), ['OVERLOADED']), idempotent: true },
  'GET /v1/activities': get('listActivities', r.paged(r.activity)),
  'POST /v1/events': { ...get('recordEvents', r.one(r.eventsIngested), ['OVERLOADED']), idempotent: true },
  'GET /v1/audit': get('getAuditHistory', r.paged(r.auditEntry)),
};
