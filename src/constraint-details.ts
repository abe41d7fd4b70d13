import type { ErrorDetail } from './errors.js';

/**
 * What each named constraint of the schema means to an API caller: the field it guards, as the API
 * spells it, and a message in the API's terms. A violation is reported with this and never with
 * PostgreSQL's own text, which names tables, constraints and the values of other rows. A test reads
 * every unique, check and foreign-key constraint from pg_constraint, and the names the schema's
 * functions raise (RAISE … USING CONSTRAINT), and fails on one missing here.
 * Constraints no API input can reach (the pipeline's own tables) still get an entry, under '(root)'.
 */
export const constraintDetails: Readonly<Record<string, ErrorDetail>> = {
  // 23505: a unique value already taken.
  tenant_slug_key: { path: 'slug', message: 'already taken' },
  api_key_tenant_prefix_key: { path: '(root)', message: 'a key with the same prefix already exists; create the key again' },
  admin_key_prefix_key: { path: '(root)', message: 'a key with the same prefix already exists; create the key again' },
  app_user_tenant_email_key: { path: 'email', message: 'already taken in this tenant' },
  organization_tenant_slug_key: { path: 'slug', message: 'already taken in this tenant' },
  team_tenant_slug_key: { path: 'slug', message: 'already taken in this tenant' },
  project_tenant_slug_key: { path: 'slug', message: 'already taken in this tenant' },
  product_tenant_slug_key: { path: 'slug', message: 'already taken in this tenant' },
  event_tenant_client_id_key: { path: 'id', message: 'an event with this id is already stored' },
  etl_quarantine_source_row_key: { path: '(root)', message: 'the row is already quarantined' },
  etl_run_window_chain_key: { path: '(root)', message: 'another run already committed this range' },

  // 23514: a data rule.
  tenant_name_length: { path: 'name', message: 'must be 1 to 200 characters' },
  tenant_slug_format: { path: 'slug', message: 'lowercase letters, digits and inner hyphens, at most 63' },
  api_key_name_length: { path: 'name', message: 'must be 1 to 100 characters' },
  app_user_email_format: { path: 'email', message: 'must be an email address of at most 254 characters' },
  app_user_username_length: { path: 'username', message: 'must be 1 to 150 characters' },
  profile_avatar_url_format: { path: 'profile.avatarUrl', message: 'must be an http(s) URL of at most 2000 characters' },
  profile_bio_length: { path: 'profile.bio', message: 'must be at most 5000 characters' },
  profile_display_name_length: { path: 'profile.displayName', message: 'must be at most 200 characters' },
  user_settings_is_object: { path: 'settings', message: 'must be an object' },
  organization_name_length: { path: 'name', message: 'must be 1 to 200 characters' },
  organization_slug_format: { path: 'slug', message: 'lowercase letters, digits and inner hyphens, at most 63' },
  team_name_length: { path: 'name', message: 'must be 1 to 200 characters' },
  team_slug_format: { path: 'slug', message: 'lowercase letters, digits and inner hyphens, at most 63' },
  membership_role_known: { path: 'role', message: 'must be owner, admin, member or viewer' },
  project_description_length: { path: 'description', message: 'must be at most 10000 characters' },
  project_name_length: { path: 'name', message: 'must be 1 to 200 characters' },
  project_slug_format: { path: 'slug', message: 'lowercase letters, digits and inner hyphens, at most 63' },
  project_status_known: { path: 'status', message: 'must be planned, active, paused or archived' },
  project_member_role_known: { path: 'role', message: 'must be owner, editor or viewer' },
  product_description_length: { path: 'description', message: 'must be at most 10000 characters' },
  product_name_length: { path: 'name', message: 'must be 1 to 200 characters' },
  product_price_non_negative: { path: 'price', message: 'must not be negative' },
  product_slug_format: { path: 'slug', message: 'lowercase letters, digits and inner hyphens, at most 63' },
  product_tags_bounded: { path: 'tags', message: 'at most 50 tags' },
  inventory_quantity_non_negative: { path: 'delta', message: 'would take the quantity below zero' },
  user_activity_metadata_is_object: { path: 'metadata', message: 'must be an object' },
  user_activity_type_format: { path: 'type', message: '1 to 50 letters, digits or _ . : -' },
  event_distinct_id_length: { path: 'distinctId', message: 'must be 1 to 200 characters' },
  event_name_length: { path: 'name', message: 'must be 1 to 200 characters' },
  event_properties_is_object: { path: 'properties', message: 'must be an object' },
  idempotency_key_length: { path: 'Idempotency-Key', message: 'must be 1 to 200 characters' },
  etl_run_mode_known: { path: '(root)', message: 'unknown pipeline mode' },
  etl_run_ranges_ordered: { path: '(root)', message: 'a range ends before it starts' },
  etl_run_status_known: { path: '(root)', message: 'unknown run status' },
  etl_run_window_xids_ordered: { path: '(root)', message: 'a range ends before it starts' },
  metric_value_non_negative: { path: '(root)', message: 'a metric must not be negative' },
  active_user_count_nested: { path: '(root)', message: 'daily users must be among weekly, weekly among monthly, and a day must count someone' },
  active_user_count_stale_span: { path: '(root)', message: 'a range ends before it starts' },
  report_kind_known: { path: 'kind', message: 'unknown report kind' },
  report_period_ordered: { path: 'from', message: 'the period ends before it starts' },
  audit_log_action_known: { path: '(root)', message: 'unknown audit action' },
  etl_quarantine_source_known: { path: '(root)', message: 'unknown quarantine source' },

  // 23503: a reference to a row that does not exist (in this tenant).
  api_key_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  app_user_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  profile_tenant_id_user_id_fkey: { path: 'userId', message: 'no such user in this tenant' },
  user_settings_tenant_id_user_id_fkey: { path: 'userId', message: 'no such user in this tenant' },
  organization_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  team_tenant_id_organization_id_fkey: { path: 'organizationId', message: 'no such organization in this tenant' },
  membership_tenant_id_team_id_fkey: { path: 'teamId', message: 'no such team in this tenant' },
  membership_tenant_id_user_id_fkey: { path: 'userId', message: 'no such user in this tenant' },
  project_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  project_tenant_id_organization_id_fkey: { path: 'organizationId', message: 'no such organization in this tenant' },
  project_member_tenant_id_project_id_fkey: { path: 'projectId', message: 'no such project in this tenant' },
  project_member_tenant_id_user_id_fkey: { path: 'userId', message: 'no such user in this tenant' },
  product_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  inventory_tenant_id_product_id_fkey: { path: 'productId', message: 'no such product in this tenant' },
  user_activity_tenant_id_user_id_fkey: { path: 'userId', message: 'no such user in this tenant' },
  event_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  event_tenant_id_user_id_fkey: { path: 'userId', message: 'no such user in this tenant' },
  metric_etl_run_id_fkey: { path: '(root)', message: 'the pipeline run does not exist' },
  etl_run_window_etl_run_id_fkey: { path: '(root)', message: 'the pipeline run does not exist' },
  metric_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  report_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  audit_log_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  change_history_tenant_id_audit_id_fkey: { path: '(root)', message: 'the audit entry does not exist' },
  idempotency_key_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  etl_quarantine_etl_run_id_fkey: { path: '(root)', message: 'the pipeline run does not exist' },
  etl_quarantine_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  active_user_count_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  active_user_count_stale_tenant_id_fkey: { path: '(root)', message: 'the tenant does not exist' },
  // Raised by the statement-level triggers of migration 0017, in place of two foreign keys.
  active_user_day_user_exists: { path: 'userId', message: 'no such user in this tenant' },
  active_user_day_run_exists: { path: '(root)', message: 'the pipeline run does not exist' },
};

const fallbacks: Record<string, string> = {
  '23505': 'a unique value is already taken',
  '23514': 'the change breaks a data rule',
  '23503': 'refers to a row that does not exist',
};

/**
 * The API detail for a violated constraint. One the table does not know (added by a later migration
 * without an entry) still reports nothing of PostgreSQL's text: only the catalogue's kind of error.
 */
export function constraintDetail(sqlState: string, constraint: string | undefined): ErrorDetail {
  // On a Citus cluster the error names the shard's constraint: app_user_tenant_email_key_102008.
  const known = constraint === undefined ? undefined : constraintDetails[constraint] ?? constraintDetails[constraint.replace(/_\d+$/, '')];
  return known ? { ...known } : { path: '(root)', message: fallbacks[sqlState] ?? 'the change was refused' };
}
