import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { withTenant, type TenantTx } from '../../src/db/tenant.js';
import { auditedTables } from '../../src/models/audit.js';
import { AuditRepository } from '../../src/repositories/audit-repository.js';
import { InventoryRepository } from '../../src/repositories/inventory-repository.js';
import { ProductRepository } from '../../src/repositories/product-repository.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { createTenant, createUser } from '../helpers/fixtures.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await migratedDatabase();
});

/** A tenant, and a user of it who acts. */
async function setting() {
  const tenant = await createTenant(database);
  const actor = await createUser(database, tenant.id);
  const as = <T>(fn: (trx: TenantTx) => Promise<T>, actorId: number | null = actor.id) => withTenant(database, { tenantId: tenant.id, actorId }, fn);
  const history = (table: 'product' | 'inventory', id: number) => as((trx) => new AuditRepository(trx).historyOf(table, String(id), { limit: 100 }));
  // Every audit row of the tenant written after the set-up (which audited the actor's own creation).
  const { last } = await database.admin.selectFrom('audit_log').where('tenant_id', '=', tenant.id)
    .select((eb) => eb.fn.max('id').as('last')).executeTakeFirstOrThrow();
  const auditRows = async () => database.admin.selectFrom('audit_log').selectAll()
    .where('tenant_id', '=', tenant.id).where('id', '>', last ?? 0).orderBy('id').execute();
  return { tenant, actor, as, history, auditRows };
}

describe('the audit trail', () => {
  it('records a product created through the repository as one INSERT naming the actor and every field set', async () => {
    const { actor, as, history, auditRows } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp', price: 10, tags: ['home'] }));
    expect(await auditRows()).toHaveLength(1);
    const [entry] = await history('product', product.id);
    expect(entry).toMatchObject({ table_name: 'product', entity_id: String(product.id), action: 'INSERT', actor_id: actor.id });
    expect(entry!.changed_fields).toEqual(['created_at', 'description', 'id', 'is_active', 'name', 'price', 'slug', 'tags', 'tenant_id']);
    expect(entry!.changes).toContainEqual({ field: 'price', old_value: null, new_value: 10 });
    expect(entry!.changes).toContainEqual({ field: 'tags', old_value: null, new_value: ['home'] });
  });

  it('records an update through the repository as one UPDATE with only the changed fields, old and new', async () => {
    const { actor, as, history, auditRows } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp', price: 10 }));
    await as((trx) => new ProductRepository(trx).update(product.id, { price: 12.5, name: 'Lamp' }));
    expect(await auditRows()).toHaveLength(2);
    const [latest] = await history('product', product.id);
    expect(latest).toMatchObject({ action: 'UPDATE', actor_id: actor.id, changed_fields: ['price'] });
    expect(latest!.changes).toEqual([{ field: 'price', old_value: 10, new_value: 12.5 }]);
  });

  it('records raw SQL inside a tenant transaction exactly like a repository write', async () => {
    const { actor, as, history, auditRows } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp' }));
    await as((trx) => sql`update product set name = 'Floor Lamp', description = 'tall' where id = ${product.id}`.execute(trx));
    expect(await auditRows()).toHaveLength(2);
    const [latest] = await history('product', product.id);
    expect(latest).toMatchObject({ action: 'UPDATE', actor_id: actor.id, changed_fields: ['description', 'name'] });
    expect(latest!.changes).toEqual([
      { field: 'description', old_value: '', new_value: 'tall' },
      { field: 'name', old_value: 'Lamp', new_value: 'Floor Lamp' },
    ]);
  });

  it('records nothing for an update that changes nothing, whichever path runs it', async () => {
    const { as, auditRows } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp', price: 10 }));
    await as((trx) => new ProductRepository(trx).update(product.id, { price: 10, name: 'Lamp' }));
    await as((trx) => sql`update product set name = name where id = ${product.id}`.execute(trx));
    expect((await auditRows()).map((row) => row.action)).toEqual(['INSERT']);
  });

  it('records a delete with the values the row had', async () => {
    const { actor, as, history } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp', price: 3 }));
    await as((trx) => new ProductRepository(trx).delete(product.id));
    const [latest] = await history('product', product.id);
    expect(latest).toMatchObject({ action: 'DELETE', actor_id: actor.id });
    expect(latest!.changes).toContainEqual({ field: 'price', old_value: 3, new_value: null });
  });

  it('records each inventory adjustment with the quantity before and after, and a null actor when none acts', async () => {
    const { as, history } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp' }));
    await as((trx) => new InventoryRepository(trx).adjust(product.id, 5));
    await as((trx) => new InventoryRepository(trx).adjust(product.id, -2), null);
    const entries = await history('inventory', product.id);
    expect(entries.map((entry) => [entry.action, entry.actor_id === null])).toEqual([['UPDATE', true], ['INSERT', false]]);
    expect(entries[0]!.changes).toEqual([{ field: 'quantity', old_value: 5, new_value: 3 }]);
  });

  it('records nothing for a refused decrement', async () => {
    const { as, history } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp' }));
    await as((trx) => new InventoryRepository(trx).adjust(product.id, 1));
    await expect(as((trx) => new InventoryRepository(trx).adjust(product.id, -2))).rejects.toMatchObject({ code: 'INSUFFICIENT_INVENTORY' });
    expect(await history('inventory', product.id)).toHaveLength(1);
  });
});

describe('AuditRepository.historyOf', () => {
  it('returns the history newest first with its changes in one query, a page at a time', async () => {
    const { as } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp', price: 1 }));
    for (const price of [2, 3, 4]) await as((trx) => new ProductRepository(trx).update(product.id, { price }));
    await as(async (trx) => {
      const audit = new AuditRepository(trx);
      const { result, queries } = await database.queries.measure(() => audit.historyOf('product', String(product.id), { limit: 100 }));
      expect(queries).toBe(1);
      expect(result.map((entry) => entry.changes.find((change) => change.field === 'price')?.new_value)).toEqual([4, 3, 2, 1]);
      const page = await audit.historyOf('product', String(product.id), { beforeId: result[1]!.id, limit: 1 });
      expect(page.map((entry) => entry.id)).toEqual([result[2]!.id]);
    });
  });


  it('knows exactly the tables that carry the audit trigger', async () => {
    const { rows } = await sql<{ table: string }>`
      select distinct c.relname as table from pg_trigger t join pg_class c on c.oid = t.tgrelid
      join pg_proc p on p.oid = t.tgfoid where p.proname = 'audit_row_change' order by 1`.execute(database.admin);
    expect(rows.map((row) => row.table)).toEqual([...auditedTables].sort());
  });
});

describe('the audit trail across tenants and roles', () => {
  it('shows tenant B none of tenant A\'s audit rows', async () => {
    const a = await setting();
    const b = await setting();
    const product = await a.as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp' }));
    expect(await b.history('product', product.id)).toEqual([]);
    const seen = await b.as((trx) => sql<{ tenant_id: number }>`select tenant_id from audit_log union all select tenant_id from change_history`.execute(trx));
    expect(seen.rows.every((row) => row.tenant_id === b.tenant.id)).toBe(true);
  });

  it('refuses the application role any UPDATE or DELETE of audit rows: the trail is append-only', async () => {
    const { as, auditRows } = await setting();
    const product = await as((trx) => new ProductRepository(trx).create({ name: 'Lamp', slug: 'lamp' }));
    const before = await auditRows();
    for (const statement of [
      sql`update audit_log set actor_id = null`,
      sql`delete from audit_log`,
      sql`update change_history set new_value = '"forged"'`,
      sql`delete from change_history`,
    ]) {
      // A privilege refusal, not a policy filter: a policy would let the statement run and touch no row.
      await expect(as((trx) => statement.execute(trx)))
        .rejects.toMatchObject({ code: '42501', message: expect.stringMatching(/^permission denied for table (audit_log|change_history)$/) });
    }
    expect(await auditRows()).toEqual(before);
    const changes = await database.admin.selectFrom('change_history').select('new_value')
      .where('audit_id', '=', before[0]!.id).where('field', '=', 'name').executeTakeFirstOrThrow();
    expect([changes.new_value, product.name]).toEqual(['Lamp', 'Lamp']);
  });
});
