import { z } from 'zod';

/**
 * What the API answers, per resource, as the document describes it. Documentation only: the routes
 * build these from rows (toApi), and the API test suite validates every answer it receives against
 * the served document, so a shape drifting from this description fails the suite.
 */
const at = z.date().meta({ description: 'A timestamp (ISO 8601, UTC).' });
const rowId = z.number().int().meta({ description: 'A row id (bigint, below 2^53).' });
const json = z.record(z.string(), z.unknown());

export const tenant = z.object({ id: rowId, name: z.string(), slug: z.string(), createdAt: at }).meta({ id: 'Tenant' });

export const apiKey = z.object({
  id: rowId, name: z.string(), prefix: z.string(), readOnly: z.boolean(), createdAt: at,
  lastUsedAt: at.nullable().optional(), revokedAt: at.nullable().optional(),
}).meta({ id: 'ApiKey' });
export const issuedApiKey = apiKey.extend({ key: z.string().meta({ description: 'The key itself, shown this once.' }) }).meta({ id: 'IssuedApiKey' });

const profileFields = { displayName: z.string().nullable(), bio: z.string().nullable(), avatarUrl: z.string().nullable() };
export const profile = z.object({ userId: rowId, ...profileFields, updatedAt: at.nullable() }).meta({ id: 'Profile' });
export const user = z.object({
  id: rowId, email: z.string(), username: z.string(), isActive: z.boolean(), createdAt: at, updatedAt: at,
  profile: z.object(profileFields),
}).meta({ id: 'User' });
export const settings = json.meta({ id: 'Settings', description: 'The user\'s settings: a JSON object, keys as the client wrote them.' });
export const userWithSettings = user.extend({ settings }).meta({ id: 'UserWithSettings' });

export const organization = z.object({ id: rowId, name: z.string(), slug: z.string(), createdAt: at }).meta({ id: 'Organization' });
export const team = z.object({ id: rowId, organizationId: rowId, name: z.string(), slug: z.string(), createdAt: at }).meta({ id: 'Team' });
export const member = z.object({ userId: rowId, email: z.string(), username: z.string(), role: z.string(), createdAt: at.optional() }).meta({ id: 'Member' });
export const membership = z.object({ userId: rowId, role: z.string(), createdAt: at, teamId: rowId.optional(), projectId: rowId.optional() }).meta({ id: 'Membership' });
export const teamWithMembers = team.extend({ members: z.array(member) }).meta({ id: 'TeamWithMembers' });

export const project = z.object({
  id: rowId, name: z.string(), slug: z.string(), description: z.string(), status: z.string(), organizationId: rowId.nullable(),
  createdAt: at, updatedAt: at,
}).meta({ id: 'Project' });

export const product = z.object({
  id: rowId, name: z.string(), slug: z.string(), description: z.string(), price: z.number(), tags: z.array(z.string()),
  isActive: z.boolean(), createdAt: at, updatedAt: at,
}).meta({ id: 'Product' });
export const inventory = z.object({ productId: rowId, quantity: z.number().int(), updatedAt: at.nullable() }).meta({ id: 'Inventory' });

export const activity = z.object({ id: rowId, userId: rowId, type: z.string(), metadata: json, createdAt: at }).meta({ id: 'Activity' });
export const ingested = z.object({ inserted: z.number().int() }).meta({ id: 'IngestResult' });
export const eventsIngested = z.object({
  received: z.number().int(), inserted: z.number().int(), duplicates: z.number().int(),
}).meta({ id: 'EventIngestResult' });

export const auditEntry = z.object({
  id: rowId, entity: z.string(), entityId: z.string(), action: z.string(), actorId: rowId.nullable(),
  changedFields: z.array(z.string()), changes: z.array(z.object({ field: z.string(), old: z.unknown(), new: z.unknown() })), createdAt: at,
}).meta({ id: 'AuditEntry' });

export const report = z.object({
  id: rowId, kind: z.string(), periodStart: z.string(), periodEnd: z.string(), body: z.unknown().optional(), etlRunIds: z.array(rowId), createdAt: at,
}).meta({ id: 'Report' });
export const etlRun = z.object({
  id: rowId, mode: z.enum(['incremental', 'backfill']), status: z.enum(['running', 'succeeded', 'failed']), startedAt: at, finishedAt: at.nullable(),
  durationMs: z.number().int().nullable().meta({ description: 'finishedAt − startedAt; null while running.' }),
  rowsRead: z.number().int().meta({
    description: 'Source rows the run read: a tenant key counts its own (its activities and events in the run\'s window, less any an earlier run quarantined; a row deleted since no longer counts), the admin key every tenant\'s.',
  }),
  rowsWritten: z.number().int().optional().meta({
    description: 'Metric and active-user-day rows the run wrote, of every tenant: the admin key only. A tenant key gets none, as its own share cannot be counted exactly afterwards: a later run re-stamps a metric row it adds to, and a backfill replaces the user days it rebuilds.',
  }),
  error: z.string().nullable().meta({
    description: 'Why the run failed. The admin key reads the error as raised; a tenant key its class and a fixed sentence (`QUARANTINE: …` with whether rows of its own were refused, or `INTERNAL: …`), never the raised text, which can quote another tenant\'s row.',
  }),
  quarantined: z.object({
    rows: z.number().int(), reasons: z.array(z.object({ reason: z.string(), rows: z.number().int() })),
  }).meta({ description: 'The rows the run refused, counted by reason: the caller\'s (a tenant key) or every tenant\'s (the admin key).' }),
}).meta({ id: 'EtlRun' });
export const etlRunWithRows = etlRun.extend({
  quarantinedRows: z.array(z.object({
    source: z.enum(['user_activity', 'event']), sourceId: rowId, reason: z.string(), row: json, createdAt: at,
  })).meta({ description: 'The quarantined rows, at most 100, as the run read them: the caller\'s (a tenant key) or every tenant\'s (the admin key).' }),
}).meta({ id: 'EtlRunWithRows' });
export const analyticsRows = z.array(json).meta({ id: 'AnalyticsRows', description: 'One row per period (and dimension), as the summary names.' });

/** `{data}`: the one envelope of every answer with a body. */
export const one = <T extends z.ZodType>(schema: T) => z.object({ data: schema });
export const list = <T extends z.ZodType>(schema: T) => z.object({ data: z.array(schema) });
/** A page: `nextCursor` is null on the last page. */
export const paged = <T extends z.ZodType>(schema: T) => z.object({ data: z.array(schema), nextCursor: z.string().nullable() });
/** The run history with the pipeline's freshness: how old its watermark is. */
export const etlRunPage = paged(etlRun).extend({
  pipeline: z.object({
    name: z.string(), lastSucceededRunId: rowId.nullable(), lastSucceededAt: at.nullable(),
    lagSeconds: z.number().int().nullable().meta({ description: 'Seconds since the last succeeded incremental run finished: how stale the numbers may be.' }),
    failuresSinceLastSuccess: z.number().int(),
  }),
});
export const tenantCacheStats = z.object({
  data: z.array(z.object({
    layer: z.enum(['session', 'query', 'response', 'etag']), hits: z.number().int(), misses: z.number().int(), sets: z.number().int(),
    hitRate: z.number().nullable().meta({ description: 'hits / (hits + misses); null before the first lookup.' }),
  }).meta({ id: 'CacheLayerStats' })),
  backend: z.string().meta({ description: 'Where this instance caches: `memory`, `redis` or `none`.' }),
});
export const withLineage = z.object({ data: analyticsRows, etlRunIds: z.array(rowId) });

export const health = z.object({
  status: z.enum(['ok', 'degraded', 'ready', 'unavailable']),
  checks: z.object({ database: z.enum(['up', 'down']), redis: z.enum(['up', 'down']).optional() }),
}).meta({ id: 'Health' });

/** The answer to creating a tenant: the tenant and its first key, shown once. */
export const tenantWithKey = () => z.object({ tenant, apiKey: issuedApiKey }).meta({ id: 'TenantWithKey' });
