#!/usr/bin/env node
// CI's mutation run: a full run takes hours, so CI mutates only the source files this change
// touched (against its merge base with STRATA_BASE_REF, default `main`), each with its group's tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { groupOf } from '../stryker/groups.mjs';

const baseRef = process.env.STRATA_BASE_REF ?? 'main';
const git = (...args) => execFileSync('git', args, { encoding: 'utf8' }).trim();

let base;
try {
  base = git('merge-base', 'HEAD', baseRef);
} catch {
  console.log(`mutation testing skipped: no merge base with ${baseRef} to compare against`);
  process.exit(0);
}
const touched = git('diff', '--name-only', `${base}...HEAD`).split('\n').filter((file) => file && existsSync(file));
const byGroup = new Map();
for (const file of touched) {
  const group = groupOf(file);
  if (group) byGroup.set(group, [...(byGroup.get(group) ?? []), file]);
}
if (byGroup.size === 0) {
  console.log(`mutation testing skipped: this change (against ${baseRef} at ${base.slice(0, 12)}) touches no source file of a mutation group`);
  process.exit(0);
}

let failed = false;
for (const [group, files] of byGroup) {
  console.log(`== mutating ${files.join(', ')} (group ${group})`);
  const run = spawnSync('node', ['scripts/mutate.mjs', group, '--mutate', files.join(',')], { stdio: 'inherit' });
  if (run.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
