import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkedApi, expectError, type CheckedApi } from './support/checked-api.js';
import { walkPages } from './support/pages.js';

/**
 * Model-based: random sequences of creates, reads, updates, deletes, lists, stock adjustments,
 * activity ingests and audit reads by two tenants' keys, each aimed at any row either tenant ever
 * created. After every command the API and the database must agree with a model of who owns what.
 */

type Kind = 'user' | 'organization' | 'project' | 'product';
type Actor = 0 | 1;

interface Resource {
  path: string;
  table: 'app_user' | 'organization' | 'project' | 'product';
  nameColumn: 'username' | 'name';
  create(name: string): Record<string, unknown>;
}

const resources: Record<Kind, Resource> = {
  user: { path: '/v1/users', table: 'app_user', nameColumn: 'username', create: (name) => ({ email: `${name}@example.com`, username: name }) },
  organization: { path: '/v1/organizations', table: 'organization', nameColumn: 'name', create: (name) => ({ name, slug: name }) },
  project: { path: '/v1/projects', table: 'project', nameColumn: 'name', create: (name) => ({ name, slug: name }) },
  product: { path: '/v1/products', table: 'product', nameColumn: 'name', create: (name) => ({ name, slug: name }) },
};
const kinds = Object.keys(resources) as Kind[];

interface ModelRow {
  kind: Kind;
  owner: Actor;
  id: number;
  name: string;
  alive: boolean;
  stock: number;
  /** Activities recorded for a user row. */
  activities: number;
  /** Audit entries of the row itself: its insert, each update, its delete. */
  changes: number;
}

interface Model {
  rows: ModelRow[];
}

interface Real {
  tenants: [{ id: number; key: string }, { id: number; key: string }];
}

type Action =
  | { op: 'create'; kind: Kind; actor: Actor }
  | { op: 'read' | 'update' | 'delete'; kind: Kind; actor: Actor; pick: number }
  | { op: 'list'; kind: Kind; actor: Actor; limit: number }
  | { op: 'adjust'; actor: Actor; pick: number; delta: number }
  | { op: 'record'; actor: Actor; pick: number }
  | { op: 'activities'; actor: Actor; limit: number }
  | { op: 'history'; kind: Kind; actor: Actor; pick: number };

let api: CheckedApi;
let names = 0;
const neverIssued = 2_000_000_000;

function nextName(): string {
  names += 1;
  return `n${names}-${process.pid}`;
}

/** Any row of the kind, alive or not, whoever owns it; undefined when there is none yet. */
function target(model: Model, kind: Kind, pick: number): ModelRow | undefined {
  const candidates = model.rows.filter((row) => row.kind === kind);
  return candidates.length === 0 ? undefined : candidates[pick % candidates.length];
}

async function execute(action: Action, model: Model, real: Real): Promise<void> {
  const key = real.tenants[action.actor].key;
  if (action.op === 'create') {
    const name = nextName();
    const response = await api.call('POST', resources[action.kind].path, key, resources[action.kind].create(name));
    expect(response.statusCode, response.body).toBe(201);
    model.rows.push({ kind: action.kind, owner: action.actor, id: response.json().data.id, name, alive: true, stock: 0, activities: 0, changes: 1 });
    return;
  }
  if (action.op === 'activities') {
    const { rows } = await walkPages(api, '/v1/activities', key, action.limit);
    const owned = model.rows.filter((row) => row.kind === 'user' && row.owner === action.actor && row.alive);
    expect(rows.length).toBe(owned.reduce((sum, row) => sum + row.activities, 0));
    expect(new Set(rows.map((row) => (row as { userId?: number }).userId))).toEqual(new Set(owned.filter((row) => row.activities > 0).map((row) => row.id)));
    return;
  }
  if (action.op === 'list') {
    const { rows } = await walkPages(api, resources[action.kind].path, key, action.limit);
    const owned = model.rows.filter((row) => row.kind === action.kind && row.owner === action.actor && row.alive);
    expect(rows.map((row) => row.id)).toEqual(owned.map((row) => row.id));
    return;
  }
  const kind = action.op === 'adjust' ? 'product' : action.op === 'record' ? 'user' : action.kind;
  const row = target(model, kind, action.pick);
  const visible = row !== undefined && row.owner === action.actor && row.alive;
  const url = `${resources[kind].path}/${row?.id ?? neverIssued}`;
  if (action.op === 'read') {
    const response = await api.call('GET', url, key);
    if (!visible) return void expectError(response, 404, 'NOT_FOUND');
    expect(response.json().data[resources[kind].nameColumn]).toBe(row.name);
  } else if (action.op === 'update') {
    const name = nextName();
    const response = await api.call('PATCH', url, key, { [resources[kind].nameColumn]: name });
    if (!visible) return void expectError(response, 404, 'NOT_FOUND');
    expect(response.statusCode, response.body).toBe(200);
    row.name = name;
    row.changes += 1;
  } else if (action.op === 'delete') {
    const response = await api.call('DELETE', url, key);
    if (!visible) return void expectError(response, 404, 'NOT_FOUND');
    expect(response.statusCode).toBe(204);
    row.alive = false;
    row.changes += 1;
    row.activities = 0;
  } else if (action.op === 'record') {
    // The user is named in the body: the composite foreign key refuses another tenant's user as it
    // refuses one never issued, with INTEGRITY_VIOLATION.
    const response = await api.call('POST', '/v1/activities', key, { activities: [{ userId: row?.id ?? neverIssued, type: 'visit' }] });
    if (!visible) return void expectError(response, 422, 'INTEGRITY_VIOLATION');
    expect(response.statusCode, response.body).toBe(201);
    row.activities += 1;
  } else if (action.op === 'history') {
    const response = await api.call('GET', `/v1/audit?entity=${kind}&entityId=${row?.id ?? neverIssued}&limit=500`, key);
    // A deleted row keeps its history for its owner; to anyone else it never existed.
    if (row === undefined || row.owner !== action.actor) return void expectError(response, 404, 'NOT_FOUND');
    expect(response.json().data).toHaveLength(row.changes);
  } else if (action.op === 'adjust') {
    const response = await api.call('POST', `${url}/inventory/adjust`, key, { delta: action.delta });
    if (!visible) return void expectError(response, 404, 'NOT_FOUND');
    if (row.stock + action.delta < 0) return void expectError(response, 422, 'INSUFFICIENT_INVENTORY');
    expect(response.json().data.quantity).toBe(row.stock + action.delta);
    row.stock += action.delta;
  }
}

/** Row for row, both tenants' data in the database is what the model says: nothing leaked across. */
async function expectDatabaseMatches(model: Model, real: Real): Promise<void> {
  const tenantIds = real.tenants.map((tenant) => tenant.id);
  for (const kind of kinds) {
    const { table, nameColumn } = resources[kind];
    const stored = await api.database.admin.selectFrom(table).select(['tenant_id', 'id', nameColumn])
      .where('tenant_id', 'in', tenantIds).orderBy('id').execute() as Record<string, unknown>[];
    const expected = model.rows.filter((row) => row.kind === kind && row.alive)
      .map((row) => ({ tenant_id: tenantIds[row.owner], id: row.id, [nameColumn]: row.name }));
    expect(stored).toEqual(expected);
  }
  const activities = await api.database.admin.selectFrom('user_activity').select(['tenant_id', 'user_id', (eb) => eb.fn.countAll<number>().as('count')])
    .where('tenant_id', 'in', tenantIds).groupBy(['tenant_id', 'user_id']).orderBy('user_id').execute();
  const expectedActivities = model.rows.filter((row) => row.kind === 'user' && row.alive && row.activities > 0)
    .map((row) => ({ tenant_id: tenantIds[row.owner], user_id: row.id, count: row.activities }));
  expect(activities.map((row) => ({ ...row, count: Number(row.count) }))).toEqual(expectedActivities);
  const stock = await api.database.admin.selectFrom('inventory').select(['tenant_id', 'product_id', 'quantity'])
    .where('tenant_id', 'in', tenantIds).where('quantity', '>', 0).orderBy('product_id').execute();
  const expectedStock = model.rows.filter((row) => row.kind === 'product' && row.alive && row.stock > 0)
    .map((row) => ({ tenant_id: tenantIds[row.owner], product_id: row.id, quantity: row.stock }));
  expect(stock).toEqual(expectedStock);
}

class Step implements fc.AsyncCommand<Model, Real> {
  constructor(readonly action: Action) {}
  check(): boolean {
    return true;
  }
  async run(model: Model, real: Real): Promise<void> {
    await execute(this.action, model, real);
    await expectDatabaseMatches(model, real);
  }
  toString(): string {
    return JSON.stringify(this.action);
  }
}

const actor = fc.constantFrom<Actor>(0, 1);
const kind = fc.constantFrom(...kinds);
const pick = fc.nat({ max: 50 });
const steps = [
  fc.record({ op: fc.constant('create' as const), kind, actor }),
  fc.record({ op: fc.constant('create' as const), kind, actor }),
  fc.record({ op: fc.constantFrom('read' as const, 'update' as const, 'delete' as const), kind, actor, pick }),
  fc.record({ op: fc.constantFrom('read' as const, 'update' as const, 'delete' as const), kind, actor, pick }),
  fc.record({ op: fc.constant('list' as const), kind, actor, limit: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('adjust' as const), actor, pick, delta: fc.integer({ min: -4, max: 6 }).filter((delta) => delta !== 0) }),
  fc.record({ op: fc.constant('record' as const), actor, pick }),
  fc.record({ op: fc.constant('activities' as const), actor, limit: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('history' as const), kind, actor, pick }),
].map((arbitrary) => arbitrary.map((action) => new Step(action)));

beforeAll(async () => {
  api = await checkedApi();
});

describe('tenant isolation under random command sequences', () => {
  // About 500 commands in all: enough for every kind of cross-tenant aim, inside the time budget.
  it('never lets one tenant read, list, count or change the other\'s users, organizations, projects, products, activities or history', async () => {
    await fc.assert(fc.asyncProperty(fc.commands(steps, { maxCommands: 30, size: 'large' }), async (commands) => {
      const setup = async () => ({
        model: { rows: [] },
        real: { tenants: [await api.tenant('Iso A'), await api.tenant('Iso B')] as Real['tenants'] },
      });
      await fc.asyncModelRun(setup, commands);
    }), { numRuns: 30 });
  });
});
