/**
 * The shape of the demo data: who signs up when, how long they stay, on which days they come back
 * and what they do, over the last `days` days. Pure and deterministic for a given `seed`, so the
 * charts it makes can be asserted.
 */

export const SEED_DAYS = 90;
export const ACTIVITY_TYPES = ['login', 'view', 'search', 'purchase', 'share', 'logout'] as const;
export const EVENT_NAMES = ['page_view', 'feature_used', 'checkout_started', 'invite_sent'] as const;
const PLANS = ['free', 'free', 'free', 'pro', 'pro', 'team'] as const;
const DEVICES = ['web', 'web', 'ios', 'android'] as const;
const DAY_MS = 86_400_000;
// Sunday first, as Date#getUTCDay counts: quieter weekends, a Monday peak.
const WEEKDAY_FACTOR = [0.4, 1.1, 1, 1, 0.95, 0.85, 0.45];

/** mulberry32: a tiny seeded generator; Math.random cannot be seeded, and the shape must repeat. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface DemoUser {
  /** Day index (0 = the first of the window) of the user's first visit. */
  signupDay: number;
  /** The last day index the user comes back on (churn after it); may lie past the window. */
  lastDay: number;
  /** Chance of coming back on a weekday. */
  frequency: number;
  plan: string;
  device: string;
}

export interface DemoRow { user: number; type: string; at: Date; metadata: Record<string, string> }

export interface DemoPlan { users: DemoUser[]; activities: DemoRow[]; events: DemoRow[] }

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

/** Weights of each activity type on day `t` of 0..1: searching and sharing grow, the rest holds. */
function typeWeights(t: number): number[] {
  return [0.2, 0.34 - 0.1 * t, 0.1 + 0.12 * t, 0.06 + 0.03 * t, 0.03 + 0.1 * t, 0.12];
}

function weighted(random: () => number, weights: number[]): number {
  let roll = random() * weights.reduce((sum, weight) => sum + weight, 0);
  for (let index = 0; index < weights.length; index += 1) {
    roll -= weights[index]!;
    if (roll < 0) return index;
  }
  return weights.length - 1;
}

/**
 * Users: a base present from the first day, then sign-ups that grow over the window. Each cohort
 * churns a share every week, less for later cohorts (the product improves), and a loyal fifth
 * barely churns, so cohort retention differs. Activities and events fall on the days each user
 * comes back, mostly in working hours, fewer at weekends.
 */
export function demoPlan(options: { users: number; activities: number; events: number; seed: number; now?: Date; days?: number }): DemoPlan {
  const random = seededRandom(options.seed);
  const days = options.days ?? SEED_DAYS;
  const now = options.now ?? new Date();
  const firstDay = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (days - 1) * DAY_MS;
  const users: DemoUser[] = Array.from({ length: options.users }, () => {
    const signupDay = random() < 0.15 ? 0 : Math.floor((days - 1) * Math.sqrt(random()));
    const loyal = random() < 0.2;
    const weeklyChurn = loyal ? 0.03 : 0.38 - 0.26 * (signupDay / days) + (random() - 0.5) * 0.1;
    let weeks = 0;
    while (random() > weeklyChurn && weeks < 30) weeks += 1;
    return { signupDay, lastDay: signupDay + weeks * 7 + Math.floor(random() * 7), frequency: 0.2 + random() * 0.5, plan: pick(random, PLANS), device: pick(random, DEVICES) };
  });

  // Every (user, day) on which the user comes back; the first visit always counts.
  const visits: { user: number; day: number }[] = [];
  users.forEach((user, index) => {
    for (let day = user.signupDay; day < Math.min(days, user.lastDay + 1); day += 1) {
      const weekday = new Date(firstDay + day * DAY_MS).getUTCDay();
      if (day === user.signupDay || random() < user.frequency * WEEKDAY_FACTOR[weekday]!) visits.push({ user: index, day });
    }
  });

  const at = (day: number) => {
    // Working hours peak around 13:00 UTC: the mean of three uniform draws is bell-shaped.
    const hours = 4 + ((random() + random() + random()) / 3) * 18;
    return new Date(Math.min(firstDay + day * DAY_MS + hours * 3_600_000, now.getTime() - 1000 - random() * 60_000));
  };
  const rows = (count: number, kind: (day: number) => string): DemoRow[] => {
    if (visits.length === 0) return [];
    return Array.from({ length: count }, () => {
      const visit = visits[Math.floor(random() * visits.length)]!;
      const user = users[visit.user]!;
      return { user: visit.user, type: kind(visit.day), at: at(visit.day), metadata: { source: 'seed', plan: user.plan, device: user.device } };
    }).sort((a, b) => a.at.getTime() - b.at.getTime());
  };
  return {
    users,
    activities: rows(options.activities, (day) => ACTIVITY_TYPES[weighted(random, typeWeights(day / days))]!),
    events: rows(options.events, () => pick(random, EVENT_NAMES)),
  };
}
