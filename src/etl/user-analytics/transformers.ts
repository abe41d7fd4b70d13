import type { ActiveUserDayRow, MetricDelta, MetricName } from '../../models/analytics.js';
import { userKey, type SourceRow, type UserKey } from './extractors.js';

export interface TransformOutput {
  /** Changes to daily metrics, added to what is loaded (a batch is applied exactly once). */
  metrics: MetricDelta[];
  /** One row per tenant, day and user seen in the batch; rows already loaded are left as they are. */
  activeUserDays: ActiveUserDayRow[];
}

const metricBySource: Record<SourceRow['source'], MetricName> = { user_activity: 'activities', event: 'events' };

/**
 * Folds source rows, chunk by chunk, into per-tenant daily counts (activities by type, events by
 * name), the days each user was active, and each user's first day in the batch.
 */
export class DailyRollup {
  private readonly counts = new Map<string, MetricDelta>();
  private readonly userDays = new Map<string, ActiveUserDayRow>();
  private readonly firstDays = new Map<string, UserKey & { day: string }>();
  rows = 0;

  add(rows: readonly SourceRow[]): void {
    for (const row of rows) {
      this.rows += 1;
      const name = metricBySource[row.source];
      const countKey = `${row.tenantId}\u0000${name}\u0000${row.name}\u0000${row.day}`;
      const count = this.counts.get(countKey);
      if (count) count.value += 1;
      else this.counts.set(countKey, { tenantId: row.tenantId, name, dimension: row.name, day: row.day, value: 1 });
      if (row.userId === null) continue;
      const dayKey = `${row.tenantId}:${row.day}:${row.userId}`;
      if (!this.userDays.has(dayKey)) this.userDays.set(dayKey, { tenantId: row.tenantId, day: row.day, userId: row.userId });
      const key = userKey(row.tenantId, row.userId);
      const first = this.firstDays.get(key);
      if (!first) this.firstDays.set(key, { tenantId: row.tenantId, userId: row.userId, day: row.day });
      else if (row.day < first.day) first.day = row.day;
    }
  }

  /** The users whose first active day the batch may change. */
  users(): UserKey[] {
    return [...this.firstDays.values()].map(({ tenantId, userId }) => ({ tenantId, userId }));
  }

  /**
   * The batch's output. With the first days already loaded it also yields new_users changes;
   * a backfill leaves them out and recounts new_users from active_user_day instead.
   */
  finish(loadedFirstDays?: ReadonlyMap<string, string>): TransformOutput {
    const metrics = [...this.counts.values()];
    if (loadedFirstDays) metrics.push(...newUserDeltas(this.firstDays.values(), loadedFirstDays));
    return { metrics, activeUserDays: [...this.userDays.values()] };
  }
}

/**
 * A user is new on the first day they were active. A user never seen adds one on their first day in
 * the batch; a late row that moves a known user's first day earlier moves their count with it.
 * Days whose changes cancel out still get a (zero) row, so the metric names the run that last
 * changed what it counts.
 */
export function newUserDeltas(batchFirstDays: Iterable<UserKey & { day: string }>, loadedFirstDays: ReadonlyMap<string, string>): MetricDelta[] {
  const deltas = new Map<string, MetricDelta>();
  const bump = (tenantId: number, day: string, by: number) => {
    const key = `${tenantId}:${day}`;
    const delta = deltas.get(key);
    if (delta) delta.value += by;
    else deltas.set(key, { tenantId, name: 'new_users', dimension: '', day, value: by });
  };
  for (const user of batchFirstDays) {
    const loaded = loadedFirstDays.get(userKey(user.tenantId, user.userId));
    if (loaded !== undefined && loaded <= user.day) continue;
    if (loaded !== undefined) bump(user.tenantId, loaded, -1);
    bump(user.tenantId, user.day, 1);
  }
  return [...deltas.values()];
}
