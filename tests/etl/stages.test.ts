import { describe, expect, it } from 'vitest';
import type { SourceRow } from '../../src/etl/user-analytics/extractors.js';
import { ChecksumTally } from '../../src/etl/user-analytics/loaders.js';
import { DailyRollup, newUserDeltas } from '../../src/etl/user-analytics/transformers.js';
import { dayBounds, reconcile, reconcileCounts, SourceRowValidator, validateOutput } from '../../src/etl/user-analytics/validators.js';
import { isoDay, metricsQuery, weekStart } from '../../src/models/analytics.js';

let nextId = 1;
function row(values: Partial<SourceRow>): SourceRow {
  return { source: 'user_activity', tenantId: 1, id: nextId++, xid: '100', userId: 10, name: 'login', day: '2025-03-03', ...values };
}

describe('DailyRollup', () => {
  it('counts activities by type and events by name per tenant and day, and one active user day per user', () => {
    const rollup = new DailyRollup();
    rollup.add([row({}), row({}), row({ name: 'view' }), row({ tenantId: 2, userId: 20 })]);
    rollup.add([row({ source: 'event', name: 'signup', userId: null }), row({ source: 'event', name: 'signup', day: '2025-03-04' })]);
    const output = rollup.finish(new Map());
    expect(rollup.rows).toBe(6);
    expect(output.metrics).toEqual(expect.arrayContaining([
      { tenantId: 1, name: 'activities', dimension: 'login', day: '2025-03-03', value: 2 },
      { tenantId: 1, name: 'activities', dimension: 'view', day: '2025-03-03', value: 1 },
      { tenantId: 2, name: 'activities', dimension: 'login', day: '2025-03-03', value: 1 },
      { tenantId: 1, name: 'events', dimension: 'signup', day: '2025-03-03', value: 1 },
      { tenantId: 1, name: 'events', dimension: 'signup', day: '2025-03-04', value: 1 },
      { tenantId: 1, name: 'new_users', dimension: '', day: '2025-03-03', value: 1 },
      { tenantId: 2, name: 'new_users', dimension: '', day: '2025-03-03', value: 1 },
    ]));
    expect(output.metrics).toHaveLength(7);
    expect(output.activeUserDays).toEqual([
      { tenantId: 1, day: '2025-03-03', userId: 10 },
      { tenantId: 2, day: '2025-03-03', userId: 20 },
      { tenantId: 1, day: '2025-03-04', userId: 10 },
    ]);
    expect(rollup.users()).toEqual([{ tenantId: 1, userId: 10 }, { tenantId: 2, userId: 20 }]);
  });

  it('leaves new_users out when no loaded first days are given (a backfill recounts them)', () => {
    const rollup = new DailyRollup();
    rollup.add([row({})]);
    expect(rollup.finish().metrics.map((metric) => metric.name)).toEqual(['activities']);
  });
});

describe('newUserDeltas', () => {
  const loaded = new Map([['1:10', '2025-03-10']]);

  it('adds a user never seen on their first day in the batch', () => {
    expect(newUserDeltas([{ tenantId: 1, userId: 11, day: '2025-03-12' }], loaded))
      .toEqual([{ tenantId: 1, name: 'new_users', dimension: '', day: '2025-03-12', value: 1 }]);
  });

  it('moves a known user to an earlier first day, and leaves one seen again later alone', () => {
    expect(newUserDeltas([{ tenantId: 1, userId: 10, day: '2025-03-01' }], loaded)).toEqual([
      { tenantId: 1, name: 'new_users', dimension: '', day: '2025-03-10', value: -1 },
      { tenantId: 1, name: 'new_users', dimension: '', day: '2025-03-01', value: 1 },
    ]);
    expect(newUserDeltas([{ tenantId: 1, userId: 10, day: '2025-03-10' }, { tenantId: 1, userId: 10, day: '2025-03-20' }], loaded)).toEqual([]);
  });

  it('nets the changes of one day', () => {
    expect(newUserDeltas([{ tenantId: 1, userId: 10, day: '2025-03-01' }, { tenantId: 1, userId: 12, day: '2025-03-10' }], loaded))
      .toContainEqual({ tenantId: 1, name: 'new_users', dimension: '', day: '2025-03-10', value: 0 });
  });
});

describe('SourceRowValidator', () => {
  const validator = new SourceRowValidator(dayBounds(new Date('2025-03-10T23:00:00Z')));

  it('accepts rows up to tomorrow and refuses days after it, before 2000, or not a date, with the reason', () => {
    const ok = [row({ day: '2025-03-11' }), row({ day: '2000-01-01' })];
    const bad = [row({ day: '2025-03-12' }), row({ day: '1999-12-31' }), row({ day: 'infinity' }), row({ name: 'a\u0000b' })];
    const { valid, rejected } = validator.check([...ok, ...bad]);
    expect(valid).toEqual(ok);
    expect(rejected.map((rejection) => rejection.row)).toEqual(bad);
    expect(rejected.map((rejection) => rejection.reason)).toEqual([
      'day: after 2025-03-11', 'day: before 2000-01-01', expect.stringContaining('day:'), expect.stringContaining('name:'),
    ]);
  });
});

describe('validateOutput', () => {
  it('passes valid rows and names every invalid one', () => {
    expect(() => validateOutput({ metrics: [{ tenantId: 1, name: 'new_users', dimension: '', day: '2025-03-03', value: -1 }], activeUserDays: [] })).not.toThrow();
    expect(() => validateOutput({
      metrics: [
        { tenantId: 1, name: 'activities', dimension: 'login', day: '2025-03-03', value: 0 },
        { tenantId: 1, name: 'new_users', dimension: 'x', day: '2025-03-03', value: 1 },
      ],
      activeUserDays: [{ tenantId: 0, day: '2025-03-03', userId: 1 }, { tenantId: 1, day: '2025-03-03', userId: 1, extra: true } as never],
    })).toThrow(expect.objectContaining({ code: 'INTERNAL', message: '4 output rows are not valid', details: [
      expect.objectContaining({ path: 'metrics.0' }), expect.objectContaining({ path: 'metrics.1' }), expect.objectContaining({ path: 'activeUserDays.0' }),
      { path: 'activeUserDays.1', message: expect.stringMatching(/^\(row\): /) },
    ] }));
  });
});

describe('reconcile', () => {
  const output = {
    metrics: [
      { tenantId: 1, name: 'activities' as const, dimension: 'login', day: '2025-03-03', value: 2 },
      { tenantId: 1, name: 'events' as const, dimension: 'signup', day: '2025-03-03', value: 1 },
      { tenantId: 1, name: 'new_users' as const, dimension: '', day: '2025-03-03', value: 1 },
    ],
    activeUserDays: [{ tenantId: 1, day: '2025-03-03', userId: 10 }],
  };

  it('accepts output whose counts equal the source per tenant and day', () => {
    expect(() => reconcile(output, [{ tenantId: 1, day: '2025-03-03', activities: 2, events: 1, activeUsers: 1 }])).not.toThrow();
  });

  it('refuses a count that differs, a day the source lacks and a day the output lacks', () => {
    expect(() => reconcile(output, [
      { tenantId: 1, day: '2025-03-03', activities: 3, events: 1, activeUsers: 1 },
      { tenantId: 2, day: '2025-03-03', activities: 1, events: 0, activeUsers: 1 },
    ])).toThrow(expect.objectContaining({ message: 'reconciliation failed for 3 counts', details: [
      { path: 'tenant 1 day 2025-03-03', message: 'activities: loading 2, source has 3' },
      { path: 'tenant 2 day 2025-03-03', message: 'activities: loading 0, source has 1' },
      { path: 'tenant 2 day 2025-03-03', message: 'activeUsers: loading 0, source has 1' },
    ] }));
    expect(() => reconcile(output, [])).toThrow('reconciliation failed for 3 counts');
  });
});

describe('reconcileCounts', () => {
  const metrics = [{ tenantId: 1, name: 'activities' as const, dimension: 'login', day: '2025-03-03', value: 2 }];

  it('takes the active user days already counted per tenant and day', () => {
    expect(() => reconcileCounts(metrics, [{ tenantId: 1, day: '2025-03-03', users: 3 }],
      [{ tenantId: 1, day: '2025-03-03', activities: 2, events: 0, activeUsers: 3 }])).not.toThrow();
    expect(() => reconcileCounts(metrics, [{ tenantId: 1, day: '2025-03-03', users: 2 }],
      [{ tenantId: 1, day: '2025-03-03', activities: 2, events: 0, activeUsers: 3 }]))
      .toThrow(expect.objectContaining({ details: [{ path: 'tenant 1 day 2025-03-03', message: 'activeUsers: loading 2, source has 3' }] }));
  });
});

describe('ChecksumTally', () => {
  it('starts from the database\'s tally and adds rows checked one by one', () => {
    const none = { rows: 0, minId: null, maxId: null, idSum: 0n };
    const tally = ChecksumTally.fromStats({ user_activity: { rows: 2, minId: 10, maxId: 20, idSum: 30n }, event: none });
    tally.add([row({ id: 5 }), row({ source: 'event', id: 7 })]);
    expect(tally.of('user_activity')).toEqual({ rows: 3, minId: 5, maxId: 20, idSum: '35' });
    expect(tally.of('event')).toEqual({ rows: 1, minId: 7, maxId: 7, idSum: '7' });
    expect(ChecksumTally.fromStats({ user_activity: none, event: none }).of('event')).toEqual({ rows: 0, minId: 0, maxId: 0, idSum: '0' });
  });


  it('counts rows and sums ids per source beyond 2^53', () => {
    const tally = new ChecksumTally();
    tally.add([row({ id: 2 ** 53 }), row({ id: 2 ** 53 }), row({ id: 5 })]);
    expect(tally.of('user_activity')).toEqual({ rows: 3, minId: 5, maxId: 2 ** 53, idSum: String(2n * 2n ** 53n + 5n) });
    expect(tally.of('event')).toEqual({ rows: 0, minId: 0, maxId: 0, idSum: '0' });
  });
});

describe('analytics inputs', () => {
  it('accept only calendar days, start weeks on Monday and default to daily granularity', () => {
    expect(isoDay.safeParse('2024-02-29').success).toBe(true);
    expect(isoDay.safeParse('2025-02-29').success).toBe(false);
    expect(weekStart('2025-03-09')).toBe('2025-03-03');
    expect(weekStart('2025-03-03')).toBe('2025-03-03');
    expect(metricsQuery.parse({ name: 'events', from: '2025-03-01', to: '2025-03-01' }).granularity).toBe('day');
  });
});
