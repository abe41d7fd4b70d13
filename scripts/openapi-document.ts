import { writeFileSync } from 'node:fs';
import { buildApp } from '../src/api/app.js';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/database.js';

/**
 * Writes the OpenAPI document the server serves at /openapi.json to a file (default openapi.json),
 * for the linters. The app is built, not started: no query is sent, so no database need be running.
 */
const out = process.argv[2] ?? 'openapi.json';
const database = openDatabase(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/strata');
const app = await buildApp({ database, config: loadConfig({}) });
await app.ready();
writeFileSync(out, `${JSON.stringify(app.swagger(), null, 2)}\n`);
await app.close();
await database.close();
console.log(`wrote ${out}`);
