import { buildApp } from '../src/api/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';

/**
 * The OpenAPI document the server serves at /openapi.json. The app is built, not started: no query
 * is sent, so no database need be running.
 */
export async function servedDocument(): Promise<Record<string, unknown>> {
  const database = openDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/strata');
  try {
    const app = await buildApp({ database, config: loadConfig({}) });
    await app.ready();
    const document = app.swagger() as unknown as Record<string, unknown>;
    await app.close();
    return document;
  } finally {
    await database.close();
  }
}
