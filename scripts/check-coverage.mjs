#!/usr/bin/env node
// Coverage over several test runs together: `node scripts/check-coverage.mjs DIR [DIR …]` merges
// each DIR/coverage-final.json (vitest's json reporter), prints the summary and fails under 90% of
// lines or branches. CI runs the suite on a single server and on a Citus cluster; code that only a
// cluster runs (placement, rebalancing, per-node horizons) is covered by the second run.
// istanbul's own libraries, as vitest's coverage provider uses them: no merging of our own.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import libCoverage from 'istanbul-lib-coverage';
import libReport from 'istanbul-lib-report';
import reports from 'istanbul-reports';

const minimum = { lines: 90, branches: 90 };
const dirs = process.argv.slice(2);
if (dirs.length === 0) {
  console.error('usage: check-coverage.mjs DIR [DIR …]');
  process.exit(2);
}
const map = libCoverage.createCoverageMap({});
for (const dir of dirs) {
  const file = join(dir, 'coverage-final.json');
  if (!existsSync(file)) {
    console.error(`no ${file}: run the suite with coverage into ${dir} first`);
    process.exit(2);
  }
  map.merge(JSON.parse(readFileSync(file, 'utf8')));
}
const context = libReport.createContext({ dir: 'coverage/merged', coverageMap: map });
reports.create('text-summary').execute(context);
const summary = map.getCoverageSummary();
const failed = Object.entries(minimum).filter(([metric, floor]) => summary[metric].pct < floor);
for (const [metric, floor] of failed) console.error(`coverage of ${metric} ${summary[metric].pct}% is under ${floor}%`);
process.exit(failed.length === 0 ? 0 : 1);
