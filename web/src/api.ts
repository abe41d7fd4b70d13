// Every call the dashboard makes goes through this module, so it can be swapped for a generated
// typed client without touching the views.

const KEY_STORAGE = 'strata.key';

export type KeyKind = 'tenant' | 'admin';

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly details: { path?: string; message: string }[] = []) {
    super(message);
  }
}

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

export type Query = Record<string, string | number | boolean | undefined | null>;

export function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== null && value !== '') params.set(name, String(value));
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function call<T>(method: string, path: string, options: { query?: Query; body?: unknown; idempotencyKey?: string; prefix?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { authorization: `Bearer ${session.key() ?? ''}`, accept: 'application/json' };
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey;
  const response = await fetch(`${options.prefix ?? '/v1'}${path}${queryString(options.query)}`, {
    method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  if (response.status === 204) return undefined as T;
  const body = await response.json().catch(() => null) as { error?: { code: string; message: string; details?: { path?: string; message: string }[] } } | null;
  if (!response.ok) {
    throw new ApiError(response.status, body?.error?.code ?? `HTTP_${response.status}`, body?.error?.message ?? response.statusText, body?.error?.details ?? []);
  }
  return body as T;
}

export interface Page<T> { data: T[]; nextCursor: string | null }
export interface WithLineage<T> { data: T; etlRunIds: number[] }

export interface ActiveUsersPoint { day: string; dau: number; wau: number; mau: number }
export interface MetricPoint { period: string; dimension: string; value: number }
export interface RetentionCohort { cohort: string; size: number; retained: number[] }
export interface Report { id: number; kind: string; periodStart: string; periodEnd: string; body?: unknown; etlRunIds?: number[]; createdAt: string; [field: string]: unknown }
export interface User { id: number; email: string; username: string; isActive: boolean; createdAt: string; updatedAt?: string; profile?: Record<string, unknown> | null; [field: string]: unknown }
export interface Product { id: number; name: string; slug: string; price: number; description: string | null; tags: string[]; isActive?: boolean; [field: string]: unknown }
export interface Inventory { productId: number; quantity: number; [field: string]: unknown }
export interface Activity { id: number; userId: number; type: string; metadata: Record<string, unknown>; createdAt: string }
export interface Organization { id: number; name: string; slug: string; [field: string]: unknown }
export interface Team { id: number; name: string; slug: string; organizationId: number; members?: Member[]; [field: string]: unknown }
export interface Member { userId: number; role: string; username?: string; email?: string; [field: string]: unknown }
export interface Project { id: number; name: string; slug: string; status: string; organizationId: number | null; [field: string]: unknown }
export interface ApiKey { id: number; name: string; prefix: string; readOnly: boolean; revokedAt: string | null; lastUsedAt: string | null; createdAt: string; key?: string; [field: string]: unknown }
export interface Tenant { id: number; name: string; slug: string; createdAt: string }
export interface Change { field: string; old: unknown; new: unknown }
export interface HistoryEntry { id: number; entity: string; entityId: string; action: string; actorId: number | null; changedFields: string[]; changes: Change[]; createdAt: string }
export interface ProfileInput { displayName?: string | null; bio?: string | null; avatarUrl?: string | null }
export interface Health { status: string; checks: Record<string, string> }
export interface QuarantineReason { reason: string; rows: number }
export interface EtlRun {
  id: number; mode: string; status: string; startedAt: string; finishedAt: string | null; durationMs: number | null;
  rowsRead: number; rowsWritten: number; error: string | null; quarantined: { rows: number; reasons: QuarantineReason[] };
  quarantinedRows?: { source: string; sourceId: number; reason: string; row: Record<string, unknown>; createdAt: string }[];
}
export interface PipelineFreshness { name: string; lastSucceededRunId: number | null; lastSucceededAt: string | null; lagSeconds: number | null; failuresSinceLastSuccess: number }
export interface TenantCacheLayer { layer: string; hits: number; misses: number; sets: number; hitRate: number | null }
export interface PromMetric { name: string; values: { value: number; labels: Record<string, string | number> }[] }

const get = <T>(path: string, query?: Query) => call<T>('GET', path, { query });

export const api = {
  /** Any tenant route answers a tenant key; `/tenants` answers only the admin key. */
  checkKey: (kind: KeyKind) => (kind === 'admin' ? get<Page<Tenant>>('/tenants', { limit: 1 }) : get<Page<ApiKey>>('/api-keys', { limit: 1 })),

  activeUsers: (query: { from: string; to: string }) => get<WithLineage<ActiveUsersPoint[]>>('/analytics/active-users', query),
  metrics: (query: { name: string; from: string; to: string; granularity: string; dimension?: string }) => get<WithLineage<MetricPoint[]>>('/analytics/metrics', query),
  retention: (query: { from: string; weeks: number }) => get<WithLineage<RetentionCohort[]>>('/analytics/retention', query),
  reports: (query: Query) => get<Page<Report>>('/reports', query),
  report: (id: number) => get<{ data: Report }>(`/reports/${id}`),
  createReport: (body: { kind: string; from: string; to: string }) => call<{ data: Report }>('POST', '/reports', { body }),

  etlRuns: (query: Query) => get<Page<EtlRun> & { pipeline: PipelineFreshness }>('/etl-runs', query),
  etlRun: (id: number) => get<{ data: EtlRun }>(`/etl-runs/${id}`),
  tenantCacheStats: () => get<{ data: TenantCacheLayer[]; backend: string }>('/cache-stats'),

  users: (query: Query) => get<Page<User>>('/users', query),
  user: (id: number) => get<{ data: User }>(`/users/${id}/full`),
  createUser: (body: { email: string; username: string; isActive?: boolean; profile?: ProfileInput }) => call<{ data: User }>('POST', '/users', { body }),
  updateUser: (id: number, body: { email?: string; username?: string; isActive?: boolean }) => call<{ data: User }>('PATCH', `/users/${id}`, { body }),
  deleteUser: (id: number) => call<void>('DELETE', `/users/${id}`),
  putProfile: (id: number, body: ProfileInput) => call<{ data: Record<string, unknown> }>('PUT', `/users/${id}/profile`, { body }),
  /** JSON merge patch: a key set to null is removed. */
  mergeSettings: (id: number, body: Record<string, unknown>) => call<{ data: Record<string, unknown> }>('PATCH', `/users/${id}/settings`, { body }),
  activities: (query: Query) => get<Page<Activity>>('/activities', query),
  history: (query: { entity: string; entityId: string | number; limit?: number; cursor?: string }) => get<Page<HistoryEntry>>('/audit', query),

  organizations: (query: Query) => get<Page<Organization>>('/organizations', query),
  organization: (id: number) => get<{ data: Organization }>(`/organizations/${id}`),
  teams: (organizationId: number) => get<Page<Team>>(`/organizations/${organizationId}/teams`, { limit: 500 }),
  teamMembers: (teamId: number) => get<Page<Member>>(`/teams/${teamId}/members`),
  projects: (query: Query) => get<Page<Project>>('/projects', query),
  project: (id: number) => get<{ data: Project }>(`/projects/${id}`),
  projectMembers: (id: number) => get<Page<Member>>(`/projects/${id}/members`),
  createOrganization: (body: { name: string; slug: string }) => call<{ data: Organization }>('POST', '/organizations', { body }),
  updateOrganization: (id: number, body: { name?: string; slug?: string }) => call<{ data: Organization }>('PATCH', `/organizations/${id}`, { body }),
  createTeam: (organizationId: number, body: { name: string; slug: string }) => call<{ data: Team }>('POST', `/organizations/${organizationId}/teams`, { body }),
  putTeamMember: (teamId: number, userId: number, role: string) => call<{ data: Member }>('PUT', `/teams/${teamId}/members/${userId}`, { body: { role } }),
  removeTeamMember: (teamId: number, userId: number) => call<void>('DELETE', `/teams/${teamId}/members/${userId}`),
  createProject: (body: { name: string; slug: string; status?: string; description?: string; organizationId?: number | null }) => call<{ data: Project }>('POST', '/projects', { body }),
  updateProject: (id: number, body: { name?: string; slug?: string; status?: string; description?: string }) => call<{ data: Project }>('PATCH', `/projects/${id}`, { body }),
  putProjectMember: (projectId: number, userId: number, role: string) => call<{ data: Member }>('PUT', `/projects/${projectId}/members/${userId}`, { body: { role } }),
  removeProjectMember: (projectId: number, userId: number) => call<void>('DELETE', `/projects/${projectId}/members/${userId}`),

  products: (query: Query) => get<Page<Product>>('/products', query),
  product: (id: number) => get<{ data: Product }>(`/products/${id}`),
  createProduct: (body: Partial<Product>) => call<{ data: Product }>('POST', '/products', { body }),
  updateProduct: (id: number, body: Partial<Product>) => call<{ data: Product }>('PATCH', `/products/${id}`, { body }),
  inventory: (id: number) => get<{ data: Inventory }>(`/products/${id}/inventory`),
  adjustInventory: (id: number, delta: number) =>
    call<{ data: Inventory }>('POST', `/products/${id}/inventory/adjust`, { body: { delta }, idempotencyKey: crypto.randomUUID() }),

  apiKeys: () => get<Page<ApiKey>>('/api-keys', { limit: 500 }),
  /**
   * Whether the signed-in tenant key is read-only: the API lists each key's prefix (the first
   * characters of its secret) and access, so the key is found among them without a route of its own.
   */
  keyIsReadOnly: async (): Promise<boolean> => {
    const secret = /^strata_\d+_(.+)$/.exec(session.key() ?? '')?.[1];
    if (!secret) return false;
    const mine = (await get<Page<ApiKey>>('/api-keys', { limit: 500 })).data.filter((key) => !key.revokedAt && secret.startsWith(key.prefix));
    return mine.length > 0 && mine.every((key) => key.readOnly);
  },

  tenants: (query: Query) => get<Page<Tenant>>('/tenants', query),
  /** Accepts `{data: {tenant, apiKey}}` and the older bare `{tenant, apiKey}`. */
  createTenant: async (body: { name: string; slug: string }) => {
    const answer = await call<{ data?: { tenant: Tenant; apiKey: ApiKey }; tenant?: Tenant; apiKey?: ApiKey }>('POST', '/tenants', { body });
    return answer.data ?? { tenant: answer.tenant!, apiKey: answer.apiKey! };
  },
  deleteTenant: (id: number) => call<void>('DELETE', `/tenants/${id}`),
  tenantKeys: (id: number) => get<Page<ApiKey>>(`/tenants/${id}/api-keys`, { limit: 500 }),
  issueTenantKey: (id: number, body: { name: string; readOnly: boolean }) => call<{ data: ApiKey }>('POST', `/tenants/${id}/api-keys`, { body }),
  revokeTenantKey: (id: number, keyId: number) => call<void>('DELETE', `/tenants/${id}/api-keys/${keyId}`),

  health: () => fetch('/health').then((response) => response.json() as Promise<Health>),
  ready: () => fetch('/ready').then(async (response) => ({ ok: response.ok, ...(await response.json() as Health) })),
  /** prom-client's JSON form of /metrics (admin key). */
  promMetrics: () => call<PromMetric[]>('GET', '/metrics', { prefix: '' }),
};
