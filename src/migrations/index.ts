import type { Migration } from 'kysely';
import * as m0001 from './0001_create_app_role.js';
import * as m0002 from './0002_create_tenants.js';
import * as m0003 from './0003_add_users.js';
import * as m0004 from './0004_add_organizations.js';
import * as m0005 from './0005_add_projects.js';
import * as m0006 from './0006_add_catalog.js';
import * as m0007 from './0007_add_user_activity.js';
import * as m0008 from './0008_add_analytics.js';
import * as m0009 from './0009_add_audit.js';
import * as m0010 from './0010_enable_row_level_security.js';
import * as m0011 from './0011_data_backfill_profiles.js';
import * as m0012 from './0012_add_idempotency_keys.js';
import * as m0013 from './0013_add_etl_commit_order_and_quarantine.js';
import * as m0014 from './0014_add_project_organization_index.js';
import * as m0015 from './0015_mark_search_operators_leakproof.js';
import * as m0016 from './0016_add_id_to_activity_indexes.js';
import * as m0017 from './0017_check_active_user_day_keys_per_statement.js';
import * as m0018 from './0018_distribute_on_citus.js';
import * as m0019 from './0019_add_cache_versions.js';
import * as m0020 from './0020_add_api_key_scopes.js';
import * as m0021 from './0021_stamp_ingest_origin.js';
import * as m0022 from './0022_mark_search_operators_leakproof_on_workers.js';
import * as m0023 from './0023_keep_cache_versions_beside_tenant_rows.js';
import * as m0024 from './0024_add_active_user_count.js';

/** Every migration, by name; Kysely's Migrator applies them in name order. */
export const migrations: Record<string, Migration> = {
  '0001_create_app_role': m0001,
  '0002_create_tenants': m0002,
  '0003_add_users': m0003,
  '0004_add_organizations': m0004,
  '0005_add_projects': m0005,
  '0006_add_catalog': m0006,
  '0007_add_user_activity': m0007,
  '0008_add_analytics': m0008,
  '0009_add_audit': m0009,
  '0010_enable_row_level_security': m0010,
  '0011_data_backfill_profiles': m0011,
  '0012_add_idempotency_keys': m0012,
  '0013_add_etl_commit_order_and_quarantine': m0013,
  '0014_add_project_organization_index': m0014,
  '0015_mark_search_operators_leakproof': m0015,
  '0016_add_id_to_activity_indexes': m0016,
  '0017_check_active_user_day_keys_per_statement': m0017,
  '0018_distribute_on_citus': m0018,
  '0019_add_cache_versions': m0019,
  '0020_add_api_key_scopes': m0020,
  '0021_stamp_ingest_origin': m0021,
  '0022_mark_search_operators_leakproof_on_workers': m0022,
  '0023_keep_cache_versions_beside_tenant_rows': m0023,
  '0024_add_active_user_count': m0024,
};
