import { sql, type Kysely } from 'kysely';

// Serves listing an organization's projects and the ON DELETE SET NULL run when one is deleted,
// which otherwise scan every project of the tenant.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`CREATE INDEX project_tenant_organization_idx ON project (tenant_id, organization_id, id) WHERE organization_id IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP INDEX project_tenant_organization_idx`.execute(db);
}
