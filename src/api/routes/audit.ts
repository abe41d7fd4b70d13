import { z } from 'zod';
import { auditEntityId, auditedTable } from '../../models/audit.js';
import { AuditRepository } from '../../repositories/audit-repository.js';
import { StrataError } from '../../errors.js';
import { decodeCursor, idCursor, page, pageQuery, scoped } from '../http.js';
import type { App } from '../types.js';

const historyQuery = z.strictObject({
  ...pageQuery,
  /** The audited table, e.g. `product` or `app_user`. */
  entity: auditedTable,
  /** The entity's id, or its ids joined by ":" for a table keyed by two (membership: `teamId:userId`). */
  entityId: auditEntityId,
});

interface AuditRow {
  id: number;
  action: string;
  actor_id: number | null;
  changed_fields: string[];
  created_at: Date;
  changes: { field: string; old_value: unknown; new_value: unknown }[];
}

const toApiEntry = (row: AuditRow) => ({
  id: row.id,
  action: row.action,
  // The API key (or user) whose write this was: withTenant records it as app.actor_id.
  actorId: row.actor_id,
  changedFields: row.changed_fields,
  changes: row.changes.map((change) => ({ field: change.field, old: change.old_value, new: change.new_value })),
  createdAt: row.created_at,
});

export async function auditRoutes(app: App): Promise<void> {
  const audit = scoped(AuditRepository);

  app.get('/audit', {
    schema: {
      tags: ['audit'],
      summary: 'The change history of one entity, newest first (keyset-paginated): actor, action, changed fields with old and new values',
      querystring: historyQuery,
    },
  }, async (request) => {
    const { entity, entityId, limit, cursor } = request.query;
    const beforeId = decodeCursor(cursor, idCursor);
    const rows = await audit(request, (repository) => repository.historyOf(entity, entityId, { beforeId, limit }));
    // An entity with no history is one this tenant never had: 404, the same answer as another tenant's id.
    if (rows.length === 0 && beforeId === undefined) {
      throw new StrataError('NOT_FOUND', `no history for ${entity} ${entityId}`);
    }
    return page(rows, limit, (row) => row.id, toApiEntry);
  });
}
