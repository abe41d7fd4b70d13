import type { Command } from 'commander';
import type { CliContext } from './context.js';

export function registerServeCommand(program: Command, context: CliContext): void {
  program.command('serve')
    .description('apply migrations and serve the API on HOST:PORT')
    .action(async () => {
      const [{ startServer }, { takeOverShutdownSignals }] = await Promise.all([import('./server.js'), import('../db/embedded.js')]);
      const server = await startServer(context);
      takeOverShutdownSignals();
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        context.out(`${signal}: shutting down`);
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void stop('SIGINT'));
      process.once('SIGTERM', () => void stop('SIGTERM'));
    });
}
