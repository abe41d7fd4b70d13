import type { Config } from '../config.js';
import type { Runtime } from '../db/runtime.js';

export interface CliContext {
  config: Config;
  /** Opens the database (embedded or DATABASE_URL); the command closes it when done. */
  openRuntime(): Promise<Runtime>;
  out(line: string): void;
  err(line: string): void;
}

export interface ProcessContext extends CliContext {
  /** Reads the environment; main runs it before any command's action (commander's preAction). */
  loadConfig(): Promise<void>;
}

/**
 * The process's context. Modules beyond commander are imported when a command runs, never when the
 * program is declared: `strata --help` then loads no database driver, schema library or server.
 */
export function defaultContext(): ProcessContext {
  let config: Config | undefined;
  return {
    get config(): Config {
      if (!config) throw new Error('the configuration is read before a command runs: call loadConfig() first');
      return config;
    },
    async loadConfig() {
      config ??= (await import('../config.js')).loadConfig();
    },
    openRuntime: async () => (await import('../db/runtime.js')).openRuntime(config!),
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
}

export async function withRuntime<T>(context: CliContext, fn: (runtime: Runtime) => Promise<T>): Promise<T> {
  const runtime = await context.openRuntime();
  try {
    return await fn(runtime);
  } finally {
    await runtime.close();
  }
}
