import { jsonArrayFrom } from 'kysely/helpers/postgres';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import type { AuditedTable, AuditHistoryOptions } from '../models/audit.js';

/**
 * Reads the audit trail the triggers write. There is nothing to write here: every insert, update and
 * delete on an audited table records itself, whichever path made it.
 */
export class AuditRepository {
  constructor(private readonly trx: TenantTx) {}

  /**
   * The audit rows of one entity, newest first, each with its field changes (old and new values)
   * loaded in the same query (prefetch_related). Served by audit_log_entity_idx.
   */
  async historyOf(tableName: AuditedTable, entity: string, { beforeId, limit }: AuditHistoryOptions) {
    let query = this.trx.selectFrom('audit_log as l')
      .selectAll('l')
      .select((eb) => jsonArrayFrom(eb.selectFrom('change_history as c')
        .select(['c.field', 'c.old_value', 'c.new_value'])
        .whereRef('c.tenant_id', '=', 'l.tenant_id').whereRef('c.audit_id', '=', 'l.id')
        .orderBy('c.field')).as('changes'))
      .where('l.tenant_id', '=', tenantOf(this.trx))
      .where('l.table_name', '=', tableName)
      .where('l.entity_id', '=', entity);
    if (beforeId !== undefined) query = query.where('l.id', '<', beforeId);
    return query.orderBy('l.id', 'desc').limit(limit).execute();
  }
}
