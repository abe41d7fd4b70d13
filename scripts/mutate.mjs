#!/usr/bin/env node
// `npm run mutate` runs every mutation group in turn; `npm run mutate -- <group> [...]` runs those.
// Options after the groups go to Stryker (`--force` re-runs every mutant, ignoring the incremental
// file: do it now and then, since a change to a test helper is not seen as a change).
// `--mutate a.ts,b.ts` limits a group to those files (scripts/mutate-changed.mjs uses it in CI).
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { groups } from '../stryker/groups.mjs';

const args = process.argv.slice(2);
const firstOption = args.findIndex((arg) => arg.startsWith('-'));
const named = firstOption === -1 ? args : args.slice(0, firstOption);
const strykerArgs = firstOption === -1 ? [] : args.slice(firstOption);
const unknown = named.filter((name) => !(name in groups));
if (unknown.length > 0) {
  console.error(`unknown mutation group: ${unknown.join(', ')} (groups: ${Object.keys(groups).join(', ')})`);
  process.exit(2);
}

const results = [];
let failed = false;
for (const name of named.length > 0 ? named : Object.keys(groups)) {
  const started = Date.now();
  // A cluster group's code runs only on Citus: its tests run against the coordinator given.
  const clusterUrl = process.env.STRATA_MUTATION_CLUSTER_URL;
  if (groups[name].cluster && !clusterUrl) {
    console.log(`== mutation group ${name} skipped: its code runs only on a Citus cluster; set STRATA_MUTATION_CLUSTER_URL to a coordinator's URL`);
    results.push({ name, minutes: 0, skipped: true });
    continue;
  }
  rmSync(`reports/mutation/${name}/mutation.json`, { force: true }); // no stale score from a run that failed to start
  console.log(`== mutation group ${name}: ${groups[name].mutate.join(' ')}`);
  const run = spawnSync('npx', ['stryker', 'run', 'stryker.config.mjs', ...strykerArgs], {
    stdio: 'inherit',
    env: {
      ...process.env,
      ...(groups[name].cluster ? { DATABASE_URL: clusterUrl } : {}),
      STRATA_MUTATION_GROUP: name,
      STRATA_MUTATION_TESTS: groups[name].tests.join(','),
    },
  });
  // A score under thresholds.break exits non-zero but still writes its report.
  const score = scoreOf(name);
  if (run.status !== 0 || !score) failed = true;
  results.push({ name, minutes: (Date.now() - started) / 60_000, score });
}

console.log('\ngroup          score   killed  survived  no cov  timeout  minutes');
for (const { name, minutes, score, skipped } of results) {
  const cells = skipped ? ['skipped', '', '', '', ''] : score ? [score.percent.toFixed(1) + '%', score.killed, score.survived, score.noCoverage, score.timeout] : ['failed', '', '', '', ''];
  console.log(`${name.padEnd(14)} ${String(cells[0]).padStart(6)} ${String(cells[1]).padStart(8)} ${String(cells[2]).padStart(9)} ${String(cells[3]).padStart(7)} ${String(cells[4]).padStart(8)} ${minutes.toFixed(1).padStart(8)}`);
}
process.exit(failed ? 1 : 0);

/** The group's score from its JSON report: (killed + timeout) / (all valid mutants). */
function scoreOf(name) {
  try {
    const report = JSON.parse(readFileSync(`reports/mutation/${name}/mutation.json`, 'utf8'));
    const counts = { Killed: 0, Timeout: 0, Survived: 0, NoCoverage: 0 };
    for (const file of Object.values(report.files)) {
      for (const mutant of file.mutants) if (mutant.status in counts) counts[mutant.status] += 1;
    }
    const valid = counts.Killed + counts.Timeout + counts.Survived + counts.NoCoverage;
    return {
      percent: valid === 0 ? 100 : (100 * (counts.Killed + counts.Timeout)) / valid,
      killed: counts.Killed, timeout: counts.Timeout, survived: counts.Survived, noCoverage: counts.NoCoverage,
    };
  } catch {
    return undefined;
  }
}
