import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { constraintDetails } from '../../src/constraint-details.js';
import { StrataError, translateDatabaseError } from '../../src/errors.js';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { seeder, unique } from './support/seed.js';
import { twoTenants, type ApiTenant } from './support/two-tenants.js';

let api: CheckedApi, a: ApiTenant, b: ApiTenant;

beforeAll(async () => {
  ({ api, a, b } = await twoTenants(checkedApi(), 'Constraints'));
});

/** Every name PostgreSQL can put in a 23505, 23514 or 23503 error's `constraint` field. */
async function schemaConstraints(): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    -- Joined to its table through pg_class, where Citus hides its shards: the coordinator holds a
    -- copy of each reference table, whose constraints carry the shard id (tenant_slug_key_102008).
    select con.conname as name
      from pg_constraint con join pg_namespace n on n.oid = con.connamespace join pg_class t on t.oid = con.conrelid
     where con.contype in ('u', 'c', 'f', 'x') and n.nspname = 'public'
    union
    -- A unique index without a constraint (on an expression such as lower(email)) is named as one.
    select c.relname
      from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
     where i.indisunique and not i.indisprimary and n.nspname = 'public'
       and not exists (select 1 from pg_constraint con where con.conindid = i.indexrelid)
    union
    -- A trigger that checks a key itself names the constraint it stands for (RAISE … USING CONSTRAINT).
    select (regexp_matches(p.prosrc, 'CONSTRAINT *= *''([a-z0-9_]+)''', 'gi'))[1]
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public'
     order by 1`.execute(api.database.admin);
  return rows.map((row) => row.name);
}

// What a violation's detail must never carry: SQL words, table or constraint names, row values.
const leaks = /constraint|violates|duplicate key|relation|Key \(|app_user|tenant_id|_key\b|_fkey\b/i;

describe('the constraint table', () => {
  it('maps every unique, check, exclusion and foreign-key constraint of the schema and every one its triggers raise, and none the schema lacks', async () => {
    const names = await schemaConstraints();
    expect(names).toContain('active_user_day_user_exists');
    expect(names.length).toBeGreaterThan(70);
    expect(names.filter((name) => !(name in constraintDetails))).toEqual([]);
    expect(Object.keys(constraintDetails).filter((name) => !names.includes(name))).toEqual([]);
  });

  it('speaks API terms: camelCase field paths, messages that name no table, constraint or SQL', () => {
    for (const [name, { path, message }] of Object.entries(constraintDetails)) {
      expect({ name, path }).toMatchObject({ name, path: expect.stringMatching(/^(\(root\)|Idempotency-Key|[a-z][A-Za-z]*(\.[a-z][A-Za-z]*)*)$/) });
      expect({ name, message }).toMatchObject({ name, message: expect.not.stringMatching(leaks) });
      expect(message).not.toContain(name);
    }
  });

  it('reports a constraint it does not know without PostgreSQL\'s text', () => {
    for (const code of ['23505', '23514', '23503']) {
      const error = translateDatabaseError({
        code, constraint: 'widget_secret_key', table: 'widget', message: 'duplicate key value violates unique constraint "widget_secret_key"', detail: 'Key (secret)=(hunter2) already exists.',
      }) as StrataError;
      expect(error.details).toEqual([{ path: '(root)', message: expect.any(String) }]);
      expect(JSON.stringify(error.toJSON())).not.toMatch(/widget|hunter2|secret|duplicate key/);
    }
  });
});

describe('a missing value the database refuses (23502)', () => {
  it('names the field in camelCase and says nothing of the row', () => {
    const error = translateDatabaseError({
      code: '23502', column: 'distinct_id', table: 'event', message: 'null value in column "distinct_id" of relation "event" violates not-null constraint',
      detail: 'Failing row contains (7, 3, null, signup, {"plan": "secret"}).',
    }) as StrataError;
    expect(error.toJSON()).toEqual({ error: { code: 'VALIDATION_FAILED', message: 'distinctId is required', details: [{ path: 'distinctId', message: 'is required' }] } });
  });
});

describe('409 and 422 answers', () => {
  it('a taken email answers 409 with the field and "already taken in this tenant", no SQL', async () => {
    const email = `${unique('taken')}@example.com`;
    await seeder(api).user(a.key, { email });
    const response = await api.call('POST', '/v1/users', a.key, { email: email.toUpperCase(), username: 'again' });
    expectError(response, 409, 'CONFLICT');
    expect(response.json().error.details).toEqual([{ path: 'email', message: 'already taken in this tenant' }]);
    expect(response.body).not.toMatch(leaks);
  });

  it('a taken slug answers 409 naming slug, for organizations, projects and products alike', async () => {
    const seed = seeder(api);
    for (const [url, create] of [['/v1/organizations', seed.organization], ['/v1/projects', seed.project], ['/v1/products', seed.product]] as const) {
      const slug = unique('slug');
      await create(a.key, { slug });
      const response = await api.call('POST', url, a.key, { name: 'Again', slug });
      expectError(response, 409, 'CONFLICT');
      expect({ url, details: response.json().error.details }).toEqual({ url, details: [{ path: 'slug', message: 'already taken in this tenant' }] });
      expect(response.body).not.toMatch(leaks);
    }
  });

  it('an organization of another tenant answers 422 INTEGRITY_VIOLATION naming organizationId, and cannot see or change that tenant\'s rows', async () => {
    const theirs = await seeder(api).organization(b.key);
    const slug = unique('p');
    const response = await api.call('POST', '/v1/projects', a.key, { name: 'P', slug, organizationId: theirs.id });
    expectError(response, 422, 'INTEGRITY_VIOLATION');
    expect(response.json().error.details).toEqual([{ path: 'organizationId', message: 'no such organization in this tenant' }]);
    expect(response.body).not.toMatch(leaks);
    const stored = await api.database.admin.selectFrom('project').select('id').where('slug', '=', slug).execute();
    expect(stored).toEqual([]);
  });
});
