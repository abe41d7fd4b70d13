import { loadConfig, type Config } from '../config.js';
import { openRuntime, type Runtime } from '../db/runtime.js';

export interface CliContext {
  config: Config;
  /** Opens the database (embedded or DATABASE_URL); the command closes it when done. */
  openRuntime(): Promise<Runtime>;
  out(line: string): void;
  err(line: string): void;
}

export function defaultContext(): CliContext {
  const config = loadConfig();
  return {
    config,
    openRuntime: () => openRuntime(config),
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
