import { beforeAll, describe, expect, it } from 'vitest';
import { slugFor } from '../../src/cli/tenants.js';
import { migratedDatabase, type TestDatabase } from '../helpers/database.js';
import { testCli, type TestCli } from './cli-context.js';

let database: TestDatabase;
let cli: TestCli;

beforeAll(async () => {
  database = await migratedDatabase();
  cli = testCli(database);
});

describe('strata tenants create', () => {
  it('creates a tenant and prints it as JSON, with a slug derived from the name', async () => {
    const [line] = await cli.run('tenants', 'create', 'Acme Corp');
    const printed = JSON.parse(line!);
    expect(printed).toEqual({ id: expect.any(Number), name: 'Acme Corp', slug: 'acme-corp', apiKey: expect.stringMatching(/^strata_/) });
    const stored = await database.admin.selectFrom('tenant').select(['name', 'slug']).where('id', '=', printed.id).executeTakeFirst();
    expect(stored).toEqual({ name: 'Acme Corp', slug: 'acme-corp' });
  });

  it('refuses a second tenant with the same slug as CONFLICT', async () => {
    await expect(cli.run('tenants', 'create', 'ACME corp')).rejects.toMatchObject({ code: 'CONFLICT' });
    const count = await database.admin.selectFrom('tenant').where('slug', '=', 'acme-corp')
      .select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(count.n).toBe(1);
  });

  it('takes an explicit --slug', async () => {
    const [line] = await cli.run('tenants', 'create', 'Acme Corp', '--slug', 'acme-eu');
    expect(JSON.parse(line!)).toMatchObject({ slug: 'acme-eu' });
  });

  it('refuses a bad slug or an empty name as VALIDATION_FAILED', async () => {
    await expect(cli.run('tenants', 'create', 'Bad', '--slug', 'Not A Slug')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(cli.run('tenants', 'create', '   ', '--slug', 'blank')).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('asks for --slug when the name has nothing to derive one from', async () => {
    await expect(cli.run('tenants', 'create', '東京')).rejects.toMatchObject({
      code: 'VALIDATION_FAILED', message: expect.stringContaining('--slug'),
    });
  });
});

describe('slugFor', () => {
  it.each([
    ['Acme Corp', 'acme-corp'],
    ['Café Zürich', 'cafe-zurich'],
    ['  --Hello,   World!--  ', 'hello-world'],
    [`${'a'.repeat(62)} b`, 'a'.repeat(62)],
    ['東京', ''],
  ])('turns %j into %j', (name, slug) => {
    expect(slugFor(name)).toBe(slug);
  });

  it('always yields a slug the tenant schema accepts, or nothing', () => {
    for (const name of ['x'.repeat(100), `${'ab-'.repeat(30)}c`, 'Ünïcödé Ünïcödé', '0', 'a -- b']) {
      expect(slugFor(name), name).toMatch(/^$|^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
    }
  });
});

describe('strata tenants list', () => {
  it('prints a table under a header: id, slug, name and creation time, in id order', async () => {
    const lines = await cli.run('tenants', 'list');
    const rows = await database.admin.selectFrom('tenant').select(['id', 'slug', 'name', 'created_at']).orderBy('id').execute();
    expect(rows.length).toBeGreaterThanOrEqual(2);
    expect(lines[0]).toMatch(/^id\s+slug\s+name\s+created$/);
    expect(lines.slice(1).map((line) => line.trim().split(/\s{2,}/))).toEqual(
      rows.map((row) => [String(row.id), row.slug, row.name, row.created_at.toISOString()]));
    // Columns line up: every row starts its slug where the header does.
    const slugAt = lines[0]!.indexOf('slug');
    for (const [index, row] of rows.entries()) expect(lines[index + 1]!.indexOf(row.slug)).toBe(slugAt);
    expect(JSON.parse((await cli.run('tenants', 'list', '--json'))[0]!)).toEqual(
      rows.map((row) => ({ id: row.id, slug: row.slug, name: row.name, createdAt: row.created_at.toISOString() })));
  });

  it('says how to create one when there are no tenants', async () => {
    const empty = testCli(await migratedDatabase());
    expect(await empty.run('tenants', 'list')).toEqual(['no tenants yet: `strata tenants create NAME` makes one']);
  });
});
