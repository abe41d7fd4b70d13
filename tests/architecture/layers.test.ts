import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * The layers of src/, lowest first: a module may import its own layer and any layer below it,
 * never one above. Type-only imports count too: they are arrows a reader follows all the same.
 * The typed HTTP client (`client/`) is below everything: it runs in browsers and other services,
 * so it may import nothing of the server, not even the shared leaves.
 */
const layers = ['client', 'shared', 'migrations', 'db', 'models', 'repositories', 'caching', 'services', 'etl', 'entry', 'api', 'cli'] as const;
type Layer = (typeof layers)[number];

const shared = new Set(['src/config.ts', 'src/errors.ts', 'src/constraint-details.ts', 'src/logging.ts']);

function layerOf(file: string): Layer {
  if (shared.has(file)) return 'shared';
  // The package's entry point: the data layer for other services, below the HTTP server and the CLI.
  if (file === 'src/index.ts') return 'entry';
  const folder = file.split('/')[1] as Layer;
  if (!layers.includes(folder) || folder === 'shared' || folder === 'entry') throw new Error(`${file} is in no layer: add its folder to the layers`);
  return folder;
}

interface Arrow {
  from: string;
  to: string;
}

/** The arrows that run back up, or into migrations from anywhere but the migrator (migrations are frozen in time). */
function violations(arrows: readonly Arrow[]): string[] {
  return arrows.flatMap(({ from, to }) => {
    const [a, b] = [layerOf(from), layerOf(to)];
    if (b === 'migrations' && a !== 'migrations' && from !== 'src/db/migrator.ts') return [`${from} → ${to}: only the migrator loads migrations`];
    if (layers.indexOf(b) > layers.indexOf(a)) return [`${from} (${a}) → ${to} (${b}): an arrow up`];
    return [];
  });
}

function sourceFiles(folder: string): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true }).flatMap((entry) => {
    const path = `${folder}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every relative import (static, dynamic, re-export, type-only) of every source file, as repository paths. */
function arrowsOf(files: readonly string[]): Arrow[] {
  return files.flatMap((from) => ts.preProcessFile(readFileSync(join(root, from), 'utf8'), true, true).importedFiles
    .filter(({ fileName }) => fileName.startsWith('.'))
    .map(({ fileName }) => ({ from, to: relative(root, resolve(root, dirname(from), fileName.replace(/\.js$/, '.ts'))) })));
}

/** The modules `entry` loads, directly or not. */
function reachableFrom(entry: string, arrows: readonly Arrow[]): Set<string> {
  const seen = new Set([entry]);
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    for (const { to } of arrows.filter((arrow) => arrow.from === file)) {
      if (!seen.has(to)) { pending.push(to); seen.add(to); }
    }
  }
  return seen;
}

const files = sourceFiles('src');
const arrows = arrowsOf(files);

describe('layers of src/', () => {
  it('finds the imports it judges', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(arrows).toContainEqual({ from: 'src/repositories/user-repository.ts', to: 'src/db/tenant.ts' });
    expect(arrows).toContainEqual({ from: 'src/db/migrator.ts', to: 'src/migrations/index.ts' });
  });

  it('places every source file in a layer', () => {
    expect(files.filter((file) => { try { layerOf(file); return false; } catch { return true; } })).toEqual([]);
  });

  it('has no import that runs from a lower layer to a higher one', () => {
    expect(violations(arrows)).toEqual([]);
  });

  it('refuses an arrow up, and migrations loaded from outside the migrator', () => {
    expect(violations([
      { from: 'src/db/activity-partitions.ts', to: 'src/etl/user-analytics/extractors.ts' },
      { from: 'src/repositories/user-repository.ts', to: 'src/services/api-keys.ts' },
      { from: 'src/models/user.ts', to: 'src/repositories/user-repository.ts' },
      { from: 'src/errors.ts', to: 'src/db/database.ts' },
      { from: 'src/cli/doctor.ts', to: 'src/migrations/0001_create_app_role.ts' },
      { from: 'src/client/index.ts', to: 'src/errors.ts' },
    ])).toHaveLength(6);
    expect(violations([
      { from: 'src/api/routes/users.ts', to: 'src/repositories/user-repository.ts' },
      { from: 'src/etl/user-analytics/pipeline.ts', to: 'src/repositories/pipeline-watermark.ts' },
      { from: 'src/db/migrator.ts', to: 'src/migrations/index.ts' },
    ])).toEqual([]);
  });

  it('migrating loads no pipeline, service, repository or HTTP code', () => {
    const loaded = [...reachableFrom('src/db/migrator.ts', arrows)];
    expect(loaded.filter((file) => !['shared', 'migrations', 'db'].includes(layerOf(file)))).toEqual([]);
    expect(loaded).toContain('src/db/activity-partitions.ts');
  });
});
