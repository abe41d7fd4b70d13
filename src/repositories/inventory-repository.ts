import { sql } from 'kysely';
import { tenantOf, type TenantTx } from '../db/tenant.js';
import { StrataError } from '../errors.js';

export class InventoryRepository {
  constructor(private readonly trx: TenantTx) {}

  /** The stock of a product; a product never stocked has quantity 0 and no `updated_at`. */
  async get(id: number) {
    const stock = await this.trx.selectFrom('product as p')
      .leftJoin('inventory as i', (join) => join.onRef('i.tenant_id', '=', 'p.tenant_id').onRef('i.product_id', '=', 'p.id'))
      .select(['p.tenant_id', 'p.id as product_id', sql<number>`coalesce(i.quantity, 0)`.as('quantity'), 'i.updated_at'])
      .where('p.tenant_id', '=', tenantOf(this.trx)).where('p.id', '=', id)
      .executeTakeFirst();
    if (!stock) throw new StrataError('NOT_FOUND', `product ${id} does not exist`);
    return stock;
  }

  /**
   * Adds `delta` (negative to take stock out) in one atomic statement. The row lock the statement
   * takes makes concurrent adjustments queue, and READ COMMITTED re-evaluates the `quantity + delta >= 0`
   * guard on the row as the previous adjustment left it: no update is lost and none goes below zero.
   */
  async adjust(id: number, amount: number) {
    const tenantId = tenantOf(this.trx);
    const adjusted = amount >= 0
      // Selecting the product (visible only within the tenant) turns another tenant's id into no row
      // instead of a foreign-key error that would abort the caller's transaction.
      ? await this.trx.insertInto('inventory')
        .columns(['tenant_id', 'product_id', 'quantity'])
        .expression((eb) => eb.selectFrom('product').select(['tenant_id', 'id', sql<number>`${amount}::integer`.as('quantity')])
          .where('tenant_id', '=', tenantId).where('id', '=', id))
        .onConflict((conflict) => conflict.columns(['tenant_id', 'product_id'])
          .doUpdateSet({ quantity: (eb) => eb('inventory.quantity', '+', eb.ref('excluded.quantity')) }))
        .returningAll().executeTakeFirst()
      : await this.trx.updateTable('inventory').set((eb) => ({ quantity: eb('quantity', '+', amount) }))
        .where('tenant_id', '=', tenantId).where('product_id', '=', id)
        .where((eb) => eb(eb('quantity', '+', amount), '>=', 0))
        .returningAll().executeTakeFirst();
    if (!adjusted) throw await this.refusal(id, amount);
    return adjusted;
  }

  /** Why an adjustment changed no row: the product is not the tenant's (NOT_FOUND, from get), or too few are in stock. */
  private async refusal(productId: number, delta: number): Promise<StrataError> {
    const { quantity } = await this.get(productId);
    return new StrataError('INSUFFICIENT_INVENTORY', `product ${productId} has ${quantity} in stock; cannot take ${-delta}`,
      [{ path: 'delta', message: 'would take the quantity below zero', available: quantity, requested: delta }]);
  }
}
