import { writeFileSync } from 'node:fs';
import { servedDocument } from './served-document.js';

/** Writes the OpenAPI document the server serves at /openapi.json to a file (default openapi.json), for the linters. */
const out = process.argv[2] ?? 'openapi.json';
writeFileSync(out, `${JSON.stringify(await servedDocument(), null, 2)}\n`);
console.log(`wrote ${out}`);
