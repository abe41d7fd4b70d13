import { sql, type Kysely } from 'kysely';

// Activity pages are ordered by (created_at DESC, id DESC): a batch shares one created_at, and
// without id in the index every row of that instant is read and sorted to cut one page.
const indexes = {
  user_activity_tenant_created_idx: ['tenant_id', 'created_at DESC'],
  user_activity_tenant_type_created_idx: ['tenant_id', 'activity_type', 'created_at DESC'],
  user_activity_tenant_user_created_idx: ['tenant_id', 'user_id', 'created_at DESC'],
};

async function rebuild(db: Kysely<any>, withId: boolean): Promise<void> {
  for (const [name, columns] of Object.entries(indexes)) {
    const list = [...columns, ...(withId ? ['id DESC'] : [])].join(', ');
    await sql.raw(`DROP INDEX ${name}; CREATE INDEX ${name} ON user_activity (${list});`).execute(db);
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await rebuild(db, true);
}

export async function down(db: Kysely<any>): Promise<void> {
  await rebuild(db, false);
}
