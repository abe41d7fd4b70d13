import { sql, type Kysely } from 'kysely';

// Dashboards and reporting tools need a key that can read a tenant's data but never change it;
// existing keys keep full access.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE api_key ADD COLUMN read_only boolean NOT NULL DEFAULT false`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE api_key DROP COLUMN read_only`.execute(db);
}
