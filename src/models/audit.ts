import { z } from 'zod';
import { id } from './common.js';

export type { AuditLog, ChangeHistory } from '../db/schema.generated.js';

/** The tables that carry the audit trigger (0009_add_audit); a test keeps this list and the catalog in step. */
export const auditedTables = [
  'api_key', 'app_user', 'inventory', 'membership', 'organization', 'product', 'profile', 'project',
  'project_member', 'team', 'user_settings',
] as const;
export const auditedTable = z.enum(auditedTables);
export type AuditedTable = z.infer<typeof auditedTable>;

/** The API's name of each audited table (the names its routes speak), and back: the one mapping. */
export const auditEntityTables = {
  apiKey: 'api_key',
  user: 'app_user',
  inventory: 'inventory',
  teamMember: 'membership',
  organization: 'organization',
  product: 'product',
  profile: 'profile',
  project: 'project',
  projectMember: 'project_member',
  team: 'team',
  userSettings: 'user_settings',
} as const satisfies Record<string, AuditedTable>;
export type AuditEntity = keyof typeof auditEntityTables;
export const auditEntityOfTable = Object.fromEntries(
  Object.entries(auditEntityTables).map(([entity, table]) => [table, entity]),
) as Record<AuditedTable, AuditEntity>;
/** An entity as the API names it, read as its table. */
export const auditEntity = z.enum(Object.keys(auditEntityTables) as [AuditEntity, ...AuditEntity[]])
  .transform((entity) => auditEntityTables[entity]);

/** An id, or "team_id:user_id" for a table keyed by two columns, as the trigger writes it. */
export const auditEntityId = z.union([id, z.string().regex(/^\d{1,19}(:\d{1,19})*$/, 'an id or ids joined by ":"')])
  .transform(String);

export const auditHistoryOptions = z.strictObject({
  /** The id of the last audit row of the previous page. */
  beforeId: id.optional(),
  limit: z.number().int().min(1).max(1000).default(100),
});
export type AuditHistoryOptions = z.output<typeof auditHistoryOptions>;
