import { sql, type Kysely } from 'kysely';

const tenantTables = [
  'api_key', 'app_user', 'profile', 'user_settings', 'organization', 'team', 'membership', 'project',
  'project_member', 'product', 'inventory', 'user_activity', 'event', 'metric', 'active_user_day', 'report',
];
// The audit trail is append-only for the application.
const appendOnlyTables = ['audit_log', 'change_history'];
const currentTenant = `nullif(current_setting('app.tenant_id', true), '')::bigint`;

function isolate(table: string, privileges: string): string {
  return `
    ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
    ALTER TABLE ${table} FORCE ROW LEVEL SECURITY;
    CREATE POLICY tenant_isolation ON ${table} USING (tenant_id = ${currentTenant}) WITH CHECK (tenant_id = ${currentTenant});
    GRANT ${privileges} ON ${table} TO strata_app;`;
}

export async function up(db: Kysely<any>): Promise<void> {
  const statements = [
    ...tenantTables.map((table) => isolate(table, 'SELECT, INSERT, UPDATE, DELETE')),
    ...appendOnlyTables.map((table) => isolate(table, 'SELECT, INSERT')),
    // A tenant sees its own tenant row (the audit trigger checks it exists) and nothing else.
    `ALTER TABLE tenant ENABLE ROW LEVEL SECURITY;
     ALTER TABLE tenant FORCE ROW LEVEL SECURITY;
     CREATE POLICY tenant_self ON tenant USING (id = ${currentTenant});
     GRANT SELECT ON tenant TO strata_app;`,
    // Admin keys: no policy and no grant, so the application role sees no row of them.
    'ALTER TABLE admin_key ENABLE ROW LEVEL SECURITY; ALTER TABLE admin_key FORCE ROW LEVEL SECURITY;',
    'GRANT SELECT ON etl_run TO strata_app;',
  ];
  await sql.raw(statements.join('\n')).execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  const statements = [...tenantTables, ...appendOnlyTables].map((table) => `
    REVOKE ALL ON ${table} FROM strata_app;
    DROP POLICY tenant_isolation ON ${table};
    ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY;
    ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY;`);
  statements.push(`
    REVOKE ALL ON tenant FROM strata_app;
    DROP POLICY tenant_self ON tenant;
    ALTER TABLE tenant NO FORCE ROW LEVEL SECURITY; ALTER TABLE tenant DISABLE ROW LEVEL SECURITY;
    ALTER TABLE admin_key NO FORCE ROW LEVEL SECURITY; ALTER TABLE admin_key DISABLE ROW LEVEL SECURITY;
    REVOKE ALL ON etl_run FROM strata_app;`);
  await sql.raw(statements.join('\n')).execute(db);
}
