/**
 * The README's curl walk-through with the typed client (`strata/client`), step for step. Run it
 * against a running server:
 *
 *   STRATA_URL=http://127.0.0.1:3000 STRATA_ADMIN_KEY=strata_admin_... npx tsx examples/walkthrough.ts
 *
 * Each run makes a tenant of its own (tenant slugs are unique) and reads every id from the answers.
 */
import { createStrataClient, StrataApiError, unwrap } from 'strata/client';

export interface WalkthroughSummary {
  tenantId: number;
  usersFound: string[];
  theme: unknown;
  teamMemberRole: string;
  projectOrganizationId: number | null;
  stock: number;
  activitiesInserted: number;
  activitiesFound: number;
  productHistory: string[];
  duplicateSlug: string | undefined;
}

export async function walkthrough(baseUrl: string, adminKey: string, run = String(Date.now())): Promise<WalkthroughSummary> {
  // A tenant and its first key (shown once), with the admin key.
  const admin = createStrataClient({ baseUrl, apiKey: adminKey });
  const { tenant, apiKey } = (await unwrap(admin.POST('/v1/tenants', { body: { name: `Acme ${run}`, slug: `acme-${run}` } }))).data;
  const api = createStrataClient({ baseUrl, apiKey: apiKey.key });

  const user = (await unwrap(api.POST('/v1/users', { body: { email: 'ada@acme.io', username: 'ada', profile: { displayName: 'Ada' } } }))).data;
  const userId = String(user.id);
  const found = await unwrap(api.GET('/v1/users', { params: { query: { q: 'ada' } } }));
  const settings = await unwrap(api.PATCH('/v1/users/{id}/settings', { params: { path: { id: userId } }, body: { theme: 'dark' } }));
  const org = (await unwrap(api.POST('/v1/organizations', { body: { name: 'Acme Labs', slug: 'labs' } }))).data;
  const team = (await unwrap(api.POST('/v1/organizations/{id}/teams', { params: { path: { id: String(org.id) } }, body: { name: 'Core', slug: 'core' } }))).data;
  const member = await unwrap(api.PUT('/v1/teams/{id}/members/{userId}', { params: { path: { id: String(team.id), userId } }, body: { role: 'admin' } }));
  const project = await unwrap(api.POST('/v1/projects', { body: { name: 'Launch', slug: 'launch', organizationId: org.id } }));
  const lamp = (await unwrap(api.POST('/v1/products', { body: { name: 'Desk lamp', slug: 'desk-lamp', price: 49.9, tags: ['home'] } }))).data;
  const lampId = String(lamp.id);
  const stock = await unwrap(api.POST('/v1/products/{id}/inventory/adjust', {
    params: { path: { id: lampId }, header: { 'Idempotency-Key': `stock-${run}` } }, body: { delta: 20 },
  }));
  const batch = await unwrap(api.POST('/v1/activities', {
    params: { header: { 'Idempotency-Key': `batch-${run}` } },
    body: { activities: [{ userId: user.id, type: 'login', metadata: { ip: '10.0.0.1' } }] },
  }));
  const activities = await unwrap(api.GET('/v1/activities', { params: { query: { userId, metadata: JSON.stringify({ ip: '10.0.0.1' }) } } }));
  const history = await unwrap(api.GET('/v1/audit', { params: { query: { entity: 'product', entityId: lampId } } }));

  // An error answer is typed too: here `error.error.code` can only be one of the codes this
  // operation declares, and a second product with the same slug is a CONFLICT.
  const { error } = await api.POST('/v1/products', { body: { name: 'Another lamp', slug: 'desk-lamp', price: 1 } });

  return {
    tenantId: tenant.id,
    usersFound: found.data.map((row) => row.username),
    theme: settings.data.theme,
    teamMemberRole: member.data.role,
    projectOrganizationId: project.data.organizationId,
    stock: stock.data.quantity,
    activitiesInserted: batch.data.inserted,
    activitiesFound: activities.data.length,
    productHistory: history.data.map((entry) => entry.action),
    duplicateSlug: error?.error.code,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const adminKey = process.env.STRATA_ADMIN_KEY;
  if (!adminKey) throw new Error('set STRATA_ADMIN_KEY to the admin key the server printed');
  try {
    console.log(JSON.stringify(await walkthrough(process.env.STRATA_URL ?? 'http://127.0.0.1:3000', adminKey, process.env.RUN)));
  } catch (error) {
    if (!(error instanceof StrataApiError)) throw error;
    console.error(`error ${error.message}`);
    process.exitCode = 1;
  }
}
