import { z } from 'zod';
import { auditEntity, auditEntityId, auditEntityOfTable, type AuditedTable } from '../../models/audit.js';
import { AuditRepository } from '../../repositories/audit-repository.js';
import { StrataError } from '../../errors.js';
import { camel } from '../../models/api-spelling.js';
import { decodeCursor, hiddenColumns, idCursor, page, pageQuery } from '../http.js';
import type { App } from '../types.js';

const historyQuery = z.strictObject({
  ...pageQuery,
  /** The audited entity as the API names it, e.g. `product`, `user` or `teamMember`. */
  entity: auditEntity,
  /** The entity's id, or its ids joined by ":" for a table keyed by two (membership: `teamId:userId`). */
  entityId: auditEntityId,
});

interface AuditRow {
  id: number;
  table_name: string;
  entity_id: string;
  action: string;
  actor_id: number | null;
  changed_fields: string[];
  created_at: Date;
  changes: { field: string; old_value: unknown; new_value: unknown }[];
}

// The trigger records every column; the API shows the fields its routes show, named as they are.
const shown = (field: string) => !hiddenColumns.has(field);

const toApiEntry = (row: AuditRow) => ({
  id: row.id,
  entity: auditEntityOfTable[row.table_name as AuditedTable],
  entityId: row.entity_id,
  action: row.action,
  // The API key (or user) whose write this was: withTenant records it as app.actor_id.
  actorId: row.actor_id,
  changedFields: row.changed_fields.filter(shown).map(camel),
  changes: row.changes.filter((change) => shown(change.field))
    .map((change) => ({ field: camel(change.field), old: change.old_value, new: change.new_value })),
  createdAt: row.created_at,
});

export async function auditRoutes(app: App): Promise<void> {

  app.get('/audit', {
    schema: {
      tags: ['audit'],
      summary: 'The change history of one entity, newest first (keyset-paginated): actor, action, changed fields with old and new values',
      querystring: historyQuery,
    },
  }, async (request) => {
    const { entity, entityId, limit, cursor } = request.query;
    const beforeId = decodeCursor(cursor, idCursor);
    const rows = await request.inTenant((trx) => new AuditRepository(trx).historyOf(entity, entityId, { beforeId, limit }));
    // An entity with no history is one this tenant never had: 404, the same answer as another tenant's id.
    if (rows.length === 0 && beforeId === undefined) {
      throw new StrataError('NOT_FOUND', `no history for ${entity} ${entityId}`);
    }
    return page(rows, limit, (row) => row.id, toApiEntry);
  });
}
