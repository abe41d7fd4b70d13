import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { buildApp } from '../api/app.js';
import { OutageLog, type WarningLog } from '../api/outage-log.js';
import { createCaches, type Caches } from '../caching/index.js';
import { partitionMaintenanceJob } from '../db/activity-partitions.js';
import { migrate } from '../db/migrator.js';
import { isDatabaseUnavailable } from '../errors.js';
import { startEtlScheduler, type EtlScheduler } from '../etl/user-analytics/schedulers.js';
import { logDestination, logSerializers } from '../logging.js';
import { ensureAdminKey } from '../services/api-keys.js';
import { idempotencyPruningJob } from '../services/idempotency.js';
import type { CliContext } from './context.js';
import { CliError } from './failure.js';

export interface RunningServer {
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Migrates, then serves the API on HOST:PORT until close(). A failure on the way (a migration, a
 * port in use) closes what was opened: a pool or an embedded server left open would keep the
 * process alive after the error was reported.
 */
export async function startServer(context: CliContext): Promise<RunningServer> {
  const started = Date.now();
  const runtime = await context.openRuntime();
  let app: FastifyInstance | undefined;
  let caches: Caches | undefined;
  let scheduler: EtlScheduler | undefined;
  try {
    const applied = await migrate(runtime.database);
    if (applied.length) context.out(applied.join('\n'));
    const adminKey = await ensureAdminKey(runtime.database.admin, context.config.STRATA_ADMIN_KEY);
    if (adminKey.key) {
      context.out(`Admin API key (shown once, stored hashed; set STRATA_ADMIN_KEY to choose your own):\n  ${adminKey.key}`);
    }
    const logs = await logDestination();
    const logger = (name: string) => {
      const options = { name, level: context.config.LOG_LEVEL, serializers: logSerializers };
      return logs ? pino(options, logs) : pino(options);
    };
    caches = createCaches({ config: context.config, database: runtime.database, logger: logger('strata-cache') });
    // Not fatal: until Redis answers, requests are served from the database.
    await caches.ready(2000);
    app = await buildApp({ database: runtime.database, config: context.config, logger: { level: context.config.LOG_LEVEL, ...(logs ? { stream: logs } : {}) }, caches });
    const address = await listen(app, context.config);
    if (context.config.STRATA_SCHEDULER === 'on') {
      const log = logger('strata-etl');
      scheduler = await startEtlScheduler(runtime.database, context.config, {
        onError: jobErrorReporter(log),
        jobs: [partitionMaintenanceJob(runtime.database), idempotencyPruningJob(runtime.database, context.config.IDEMPOTENCY_KEY_TTL_HOURS)],
      });
    }
    const where = runtime.embedded ? `embedded PostgreSQL in ${runtime.embedded.dataDir}` : 'DATABASE_URL';
    context.out(`Strata listening on ${address} (${where}), ready in ${Date.now() - started} ms`);
    context.out(`  dashboard ${address}/   API docs ${address}/docs   admin key: ${adminKeySource(context.config.STRATA_ADMIN_KEY, adminKey.key)}`);
    const listening = app;
    const openCaches = caches;
    const openScheduler = scheduler;
    return {
      address,
      // Requests first (in flight ones finish), then the jobs, then the pools, the database last:
      // each still has what it needs while it stops.
      async close() {
        await listening.close();
        await openScheduler?.stop();
        await openCaches.close();
        await runtime.close();
      },
    };
  } catch (error) {
    await app?.close();
    await scheduler?.stop();
    await caches?.close();
    await runtime.close();
    throw error;
  }
}

function adminKeySource(configured: string | undefined, generated: string | null): string {
  if (configured) return 'STRATA_ADMIN_KEY';
  if (generated) return 'generated now, printed above';
  return 'the one printed at the first start (stored hashed only; set STRATA_ADMIN_KEY to use your own)';
}

/** Fastify's listen, with a hint for the one failure a newcomer meets: another process on the port. */
async function listen(app: FastifyInstance, config: CliContext['config']): Promise<string> {
  try {
    return await app.listen({ host: config.HOST, port: config.PORT });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    throw new CliError('ADDRESS_IN_USE', `${config.HOST}:${config.PORT} is already in use by another process`,
      `another \`strata serve\` may be running (stop it, or reach it as it is); else choose another port: PORT=${config.PORT + 1} npm start (PORT=0 picks a free one)`,
      { cause: error });
  }
}

/**
 * pg-boss reports a lost database on every poll of every worker: while it is down that is one
 * warning per 30 s with the count it stood for, and only a job's own failure is logged each time.
 */
export function jobErrorReporter(log: WarningLog, outages = new OutageLog({ message: 'database unavailable: scheduled jobs wait for it' })) {
  return (error: unknown) => {
    if (isDatabaseUnavailable(error)) outages.report(log, error);
    else log.warn({ err: error }, 'scheduled job failed');
  };
}
