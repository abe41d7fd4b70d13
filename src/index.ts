/**
 * Strata as a library: the data layer without the HTTP server. A Node service opens a database,
 * migrates it, and reads and writes tenant data through the same repositories, ingest path,
 * caches and analytics pipeline the API uses, under the same row-level security. Importing this
 * module loads neither Fastify nor the CLI.
 */
export { loadConfig, type Config } from './config.js';
export { StrataError, errorCatalogue, translateDatabaseError, type ErrorCode, type ErrorDetail } from './errors.js';

export { APP_ROLE, openDatabase, withDatabaseName, type Database, type OpenOptions } from './db/database.js';
export { openRuntime, type Runtime } from './db/runtime.js';
export { migrate, migrationNames, rollback, showMigrations, type MigrationStatus } from './db/migrator.js';
export { scopeTransaction, withTenant, type TenantContext, type TenantTransactionOptions, type TenantTx } from './db/tenant.js';
export type { DB } from './db/schema.generated.js';

// Repositories take typed, already-valid input: a caller validates at its own edge with the models.
export { parseInput } from './models/validation.js';
export { activityBatchOf, activityInput } from './models/activity.js';
export { eventBatchOf, eventInput } from './models/event.js';
export { userCreateInput } from './models/user.js';
export { organizationInput, teamInput } from './models/organization.js';
export { projectInput } from './models/project.js';
export { productInput } from './models/catalog.js';
export { tenantInput } from './models/tenant.js';

export { ActivityRepository } from './repositories/activity-repository.js';
export { AnalyticsRepository } from './repositories/analytics-repository.js';
export { AuditRepository } from './repositories/audit-repository.js';
export { EventRepository } from './repositories/event-repository.js';
export { InventoryRepository } from './repositories/inventory-repository.js';
export { OrganizationRepository } from './repositories/organization-repository.js';
export { ProductRepository } from './repositories/product-repository.js';
export { ProjectRepository } from './repositories/project-repository.js';
export { TenantRepository } from './repositories/tenant-repository.js';
export { UserRepository } from './repositories/user-repository.js';

export { createTenantWithKey } from './services/tenants.js';
export { authenticate, issueTenantKey, listTenantKeys, revokeTenantKey } from './services/api-keys.js';

export { createCaches, disabledCaches, type CacheConfig, type CacheOptions, type Caches } from './caching/index.js';

export {
  backfill, pipelineStatus, runPipeline, type BackfillOptions, type BackfillResult, type PipelineStatus, type RunOptions, type RunResult,
} from './etl/user-analytics/pipeline.js';
// After runPipeline or backfill: recounts the daily active users they marked stale (answered live until then).
export { refreshStaleCounts } from './repositories/active-user-counts.js';
