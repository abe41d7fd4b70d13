import type { Command } from 'commander';
import { buildApp } from '../api/app.js';
import { migrate } from '../db/migrator.js';
import type { CliContext } from './context.js';

export function registerServeCommand(program: Command, context: CliContext): void {
  program.command('serve')
    .description('apply migrations and serve the API on HOST:PORT')
    .action(async () => {
      const started = Date.now();
      const runtime = await context.openRuntime();
      const applied = await migrate(runtime.database);
      if (applied.length) context.out(applied.join('\n'));
      const app = await buildApp({ database: runtime.database, config: context.config, logger: { level: context.config.LOG_LEVEL } });
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        context.out(`${signal}: shutting down`);
        await app.close();
        await runtime.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
      const address = await app.listen({ host: context.config.HOST, port: context.config.PORT });
      const where = runtime.embedded ? `embedded PostgreSQL in ${runtime.embedded.dataDir}` : 'DATABASE_URL';
      context.out(`Strata listening on ${address} (${where}), ready in ${Date.now() - started} ms`);
    });
}
