import { sql, type Kysely } from 'kysely';

// Data only: every user gets a profile and a settings row, so reads never branch on a missing one.
// Reversible without loss: `down` removes only rows still in their empty default state, which the
// repositories read exactly like a missing row.
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    INSERT INTO profile (tenant_id, user_id)
      SELECT u.tenant_id, u.id FROM app_user u
      WHERE NOT EXISTS (SELECT 1 FROM profile p WHERE p.tenant_id = u.tenant_id AND p.user_id = u.id);
    INSERT INTO user_settings (tenant_id, user_id)
      SELECT u.tenant_id, u.id FROM app_user u
      WHERE NOT EXISTS (SELECT 1 FROM user_settings s WHERE s.tenant_id = u.tenant_id AND s.user_id = u.id);
  `.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    DELETE FROM profile WHERE display_name IS NULL AND bio IS NULL AND avatar_url IS NULL;
    DELETE FROM user_settings WHERE settings = '{}'::jsonb;
  `.execute(db);
}
