// Every call the dashboard makes goes through this module, over the typed client (`strata/client`):
// paths, queries, bodies and answers are typed from the OpenAPI document the server serves, and an
// error answer is thrown as a StrataApiError (status, stable code, message, details).
import { createStrataClient, StrataApiError, unwrap, type components, type paths, type StrataClient } from '../../src/client/index';

export { StrataApiError };

const KEY_STORAGE = 'strata.key';

export type KeyKind = 'tenant' | 'admin';

/** The key is held for this tab only (sessionStorage): closing the tab signs out. */
export const session = {
  key: (): string | null => sessionStorage.getItem(KEY_STORAGE),
  kind: (): KeyKind | null => {
    const key = sessionStorage.getItem(KEY_STORAGE);
    if (!key) return null;
    return key.startsWith('strata_admin_') ? 'admin' : 'tenant';
  },
  set: (key: string) => sessionStorage.setItem(KEY_STORAGE, key),
  clear: () => sessionStorage.removeItem(KEY_STORAGE),
};

let current: { key: string; client: StrataClient } | null = null;

/** One client per signed-in key: signing in with another key makes a new one. */
function client(): StrataClient {
  const key = session.key() ?? '';
  if (current?.key !== key) current = { key, client: createStrataClient({ baseUrl: location.origin, apiKey: key }) };
  return current.client;
}

/** The API's message of an error, without the code StrataApiError puts before it. */
export const errorMessage = (error: StrataApiError) => error.body?.error.message ?? error.message;

type Schemas = components['schemas'];
type QueryOf<P extends keyof paths> = paths[P] extends { get: { parameters: { query?: infer Q } } } ? NonNullable<Q> : never;
type Widen<V> = V extends string ? string | number : V extends number ? number | string : V;
/**
 * A query as the views hold it: text from the URL, which the server validates (an unknown status or
 * metric is its VALIDATION_FAILED, shown beside the view), so a field of a closed set takes any string.
 */
type UrlQuery<P extends keyof paths> = { [K in keyof QueryOf<P>]?: Widen<QueryOf<P>[K]> };
const asQuery = <P extends keyof paths>(query: UrlQuery<P>) => query as QueryOf<P>;
/** A body read from a form: as with a query, a closed set's field is the server's to check. */
type FormBody<T> = { [K in keyof T]: Widen<T[K]> };
type BodyOf<P extends keyof paths, M extends 'post' | 'patch' | 'put'> = paths[P] extends { [m in M]: { requestBody?: { content: { 'application/json': infer B } } } } ? B : never;

export interface Page<T> { data: T[]; nextCursor: string | null }
export interface WithLineage<T> { data: T; etlRunIds: number[] }

export type Report = Schemas['Report'];
export type User = Schemas['User'];
export type UserWithSettings = Schemas['UserWithSettings'];
export type Product = Schemas['Product'];
export type Inventory = Schemas['Inventory'];
export type Activity = Schemas['Activity'];
export type Organization = Schemas['Organization'];
export type Team = Schemas['Team'];
export type Member = Schemas['Member'];
export type Project = Schemas['Project'];
export type ApiKey = Schemas['ApiKey'];
export type IssuedApiKey = Schemas['IssuedApiKey'];
export type Tenant = Schemas['Tenant'];
export type HistoryEntry = Schemas['AuditEntry'];
export type Health = Schemas['Health'];
export type EtlRun = Schemas['EtlRun'] & Partial<Pick<Schemas['EtlRunWithRows'], 'quarantinedRows'>>;
export type PipelineFreshness = Schemas['ListEtlRunsResponse']['pipeline'];
export type TenantCacheLayer = Schemas['CacheLayerStats'];
// The document types analytics rows loosely (records of unknown: each metric has its own columns),
// so their shapes are written here.
export interface ActiveUsersPoint { day: string; dau: number; wau: number; mau: number }
export interface MetricPoint { period: string; dimension: string; value: number }
export interface RetentionCohort { cohort: string; size: number; retained: number[] }
export type ProfileInput = NonNullable<paths['/v1/users/{id}/profile']['put']['requestBody']>['content']['application/json'];
export type ProductInput = NonNullable<paths['/v1/products']['post']['requestBody']>['content']['application/json'];
export interface PromMetric { name: string; values: { value: number; labels: Record<string, string | number> }[] }

const id = (value: number) => String(value);

export const api = {
  /** Any tenant route answers a tenant key; `/tenants` answers only the admin key. */
  checkKey: (kind: KeyKind): Promise<unknown> => (kind === 'admin'
    ? unwrap(client().GET('/v1/tenants', { params: { query: { limit: 1 } } }))
    : unwrap(client().GET('/v1/api-keys', { params: { query: { limit: 1 } } }))),

  activeUsers: (query: UrlQuery<'/v1/analytics/active-users'>): Promise<WithLineage<ActiveUsersPoint[]>> => unwrap(client().GET('/v1/analytics/active-users', { params: { query: asQuery<'/v1/analytics/active-users'>(query) } })) as unknown as Promise<WithLineage<ActiveUsersPoint[]>>,
  metrics: (query: UrlQuery<'/v1/analytics/metrics'>): Promise<WithLineage<MetricPoint[]>> => unwrap(client().GET('/v1/analytics/metrics', { params: { query: asQuery<'/v1/analytics/metrics'>(query) } })) as unknown as Promise<WithLineage<MetricPoint[]>>,
  retention: (query: UrlQuery<'/v1/analytics/retention'>): Promise<WithLineage<RetentionCohort[]>> => unwrap(client().GET('/v1/analytics/retention', { params: { query: asQuery<'/v1/analytics/retention'>(query) } })) as unknown as Promise<WithLineage<RetentionCohort[]>>,
  reports: (query: UrlQuery<'/v1/reports'>) => unwrap(client().GET('/v1/reports', { params: { query: asQuery<'/v1/reports'>(query) } })),
  report: (reportId: number) => unwrap(client().GET('/v1/reports/{id}', { params: { path: { id: id(reportId) } } })),
  createReport: (body: FormBody<BodyOf<'/v1/reports', 'post'>>) => unwrap(client().POST('/v1/reports', { body: body as BodyOf<'/v1/reports', 'post'> })),

  etlRuns: (query: UrlQuery<'/v1/etl-runs'>) => unwrap(client().GET('/v1/etl-runs', { params: { query: asQuery<'/v1/etl-runs'>(query) } })),
  etlRun: (runId: number) => unwrap(client().GET('/v1/etl-runs/{id}', { params: { path: { id: id(runId) } } })),
  tenantCacheStats: () => unwrap(client().GET('/v1/cache-stats')),

  users: (query: UrlQuery<'/v1/users'>) => unwrap(client().GET('/v1/users', { params: { query: asQuery<'/v1/users'>(query) } })),
  user: (userId: number) => unwrap(client().GET('/v1/users/{id}/full', { params: { path: { id: id(userId) } } })),
  createUser: (body: NonNullable<paths['/v1/users']['post']['requestBody']>['content']['application/json']) => unwrap(client().POST('/v1/users', { body })),
  updateUser: (userId: number, body: NonNullable<paths['/v1/users/{id}']['patch']['requestBody']>['content']['application/json']) =>
    unwrap(client().PATCH('/v1/users/{id}', { params: { path: { id: id(userId) } }, body })),
  deleteUser: (userId: number) => unwrap(client().DELETE('/v1/users/{id}', { params: { path: { id: id(userId) } } })),
  putProfile: (userId: number, body: ProfileInput) => unwrap(client().PUT('/v1/users/{id}/profile', { params: { path: { id: id(userId) } }, body })),
  /** JSON merge patch: a key set to null is removed. */
  mergeSettings: (userId: number, body: NonNullable<paths['/v1/users/{id}/settings']['patch']['requestBody']>['content']['application/json']) =>
    unwrap(client().PATCH('/v1/users/{id}/settings', { params: { path: { id: id(userId) } }, body })),
  activities: (query: UrlQuery<'/v1/activities'>) => unwrap(client().GET('/v1/activities', { params: { query: asQuery<'/v1/activities'>(query) } })),
  history: (query: UrlQuery<'/v1/audit'>) => unwrap(client().GET('/v1/audit', { params: { query: asQuery<'/v1/audit'>(query) } })),

  organizations: (query: UrlQuery<'/v1/organizations'>) => unwrap(client().GET('/v1/organizations', { params: { query: asQuery<'/v1/organizations'>(query) } })),
  organization: (orgId: number) => unwrap(client().GET('/v1/organizations/{id}', { params: { path: { id: id(orgId) } } })),
  teams: (organizationId: number) => unwrap(client().GET('/v1/organizations/{id}/teams', { params: { path: { id: id(organizationId) } } })),
  teamMembers: (teamId: number) => unwrap(client().GET('/v1/teams/{id}/members', { params: { path: { id: id(teamId) } } })),
  projects: (query: UrlQuery<'/v1/projects'>) => unwrap(client().GET('/v1/projects', { params: { query: asQuery<'/v1/projects'>(query) } })),
  project: (projectId: number) => unwrap(client().GET('/v1/projects/{id}', { params: { path: { id: id(projectId) } } })),
  projectMembers: (projectId: number) => unwrap(client().GET('/v1/projects/{id}/members', { params: { path: { id: id(projectId) } } })),
  createOrganization: (body: { name: string; slug: string }) => unwrap(client().POST('/v1/organizations', { body })),
  updateOrganization: (orgId: number, body: { name?: string; slug?: string }) => unwrap(client().PATCH('/v1/organizations/{id}', { params: { path: { id: id(orgId) } }, body })),
  deleteOrganization: (orgId: number) => unwrap(client().DELETE('/v1/organizations/{id}', { params: { path: { id: id(orgId) } } })),
  updateTeam: (teamId: number, body: { name?: string; slug?: string }) => unwrap(client().PATCH('/v1/teams/{id}', { params: { path: { id: id(teamId) } }, body })),
  deleteTeam: (teamId: number) => unwrap(client().DELETE('/v1/teams/{id}', { params: { path: { id: id(teamId) } } })),
  createTeam: (organizationId: number, body: { name: string; slug: string }) =>
    unwrap(client().POST('/v1/organizations/{id}/teams', { params: { path: { id: id(organizationId) } }, body })),
  // The role comes from a select of the roles the document lists; the server checks it all the same.
  putTeamMember: (teamId: number, userId: number, role: string) =>
    unwrap(client().PUT('/v1/teams/{id}/members/{userId}', { params: { path: { id: id(teamId), userId: id(userId) } }, body: { role } as BodyOf<'/v1/teams/{id}/members/{userId}', 'put'> })),
  removeTeamMember: (teamId: number, userId: number) => unwrap(client().DELETE('/v1/teams/{id}/members/{userId}', { params: { path: { id: id(teamId), userId: id(userId) } } })),
  createProject: (body: FormBody<BodyOf<'/v1/projects', 'post'>>) => unwrap(client().POST('/v1/projects', { body: body as BodyOf<'/v1/projects', 'post'> })),
  updateProject: (projectId: number, body: FormBody<BodyOf<'/v1/projects/{id}', 'patch'>>) =>
    unwrap(client().PATCH('/v1/projects/{id}', { params: { path: { id: id(projectId) } }, body: body as BodyOf<'/v1/projects/{id}', 'patch'> })),
  deleteProject: (projectId: number) => unwrap(client().DELETE('/v1/projects/{id}', { params: { path: { id: id(projectId) } } })),
  putProjectMember: (projectId: number, userId: number, role: string) =>
    unwrap(client().PUT('/v1/projects/{id}/members/{userId}', { params: { path: { id: id(projectId), userId: id(userId) } }, body: { role } as BodyOf<'/v1/projects/{id}/members/{userId}', 'put'> })),
  removeProjectMember: (projectId: number, userId: number) =>
    unwrap(client().DELETE('/v1/projects/{id}/members/{userId}', { params: { path: { id: id(projectId), userId: id(userId) } } })),

  products: (query: UrlQuery<'/v1/products'>) => unwrap(client().GET('/v1/products', { params: { query: asQuery<'/v1/products'>(query) } })),
  product: (productId: number) => unwrap(client().GET('/v1/products/{id}', { params: { path: { id: id(productId) } } })),
  createProduct: (body: ProductInput) => unwrap(client().POST('/v1/products', { body })),
  updateProduct: (productId: number, body: NonNullable<paths['/v1/products/{id}']['patch']['requestBody']>['content']['application/json']) =>
    unwrap(client().PATCH('/v1/products/{id}', { params: { path: { id: id(productId) } }, body })),
  inventory: (productId: number) => unwrap(client().GET('/v1/products/{id}/inventory', { params: { path: { id: id(productId) } } })),
  adjustInventory: (productId: number, delta: number) =>
    unwrap(client().POST('/v1/products/{id}/inventory/adjust', { params: { path: { id: id(productId) } }, body: { delta }, headers: { 'Idempotency-Key': crypto.randomUUID() } })),

  apiKeys: () => unwrap(client().GET('/v1/api-keys', { params: { query: { limit: 500 } } })),
  /**
   * Whether the signed-in tenant key is read-only: the API lists each key's prefix (the first
   * characters of its secret) and access, so the key is found among them without a route of its own.
   */
  keyIsReadOnly: async (): Promise<boolean> => {
    const secret = /^strata_\d+_(.+)$/.exec(session.key() ?? '')?.[1];
    if (!secret) return false;
    const mine = (await api.apiKeys()).data.filter((key) => !key.revokedAt && secret.startsWith(key.prefix));
    return mine.length > 0 && mine.every((key) => key.readOnly);
  },

  tenants: (query: UrlQuery<'/v1/tenants'>) => unwrap(client().GET('/v1/tenants', { params: { query: asQuery<'/v1/tenants'>(query) } })),
  createTenant: async (body: { name: string; slug: string }) => (await unwrap(client().POST('/v1/tenants', { body }))).data,
  deleteTenant: (tenantId: number) => unwrap(client().DELETE('/v1/tenants/{id}', { params: { path: { id: id(tenantId) } } })),
  tenantKeys: (tenantId: number) => unwrap(client().GET('/v1/tenants/{id}/api-keys', { params: { path: { id: id(tenantId) }, query: { limit: 500 } } })),
  issueTenantKey: (tenantId: number, body: { name: string; readOnly: boolean }) =>
    unwrap(client().POST('/v1/tenants/{id}/api-keys', { params: { path: { id: id(tenantId) } }, body })),
  revokeTenantKey: (tenantId: number, keyId: number) =>
    unwrap(client().DELETE('/v1/tenants/{id}/api-keys/{keyId}', { params: { path: { id: id(tenantId), keyId: id(keyId) } } })),

  health: () => fetch('/health').then((response) => response.json() as Promise<Health>),
  ready: () => fetch('/ready').then(async (response) => ({ ok: response.ok, ...(await response.json() as Health) })),
  /** prom-client's JSON form of /metrics (admin key). */
  promMetrics: async () => (await unwrap(client().GET('/metrics', { headers: { accept: 'application/json' } }))) as unknown as PromMetric[],
};
