// `npm run build:web`: bundles the dashboard into web/dist and prints its gzipped size.
import { buildWeb, FIRST_VIEW_BUDGET_BYTES } from '../src/api/web-build.js';

const { outdir, gzippedBytes } = await buildWeb();
console.log(`dashboard built in ${outdir}: ${(gzippedBytes / 1024).toFixed(1)} KB gzipped (budget ${FIRST_VIEW_BUDGET_BYTES / 1024} KB)`);
