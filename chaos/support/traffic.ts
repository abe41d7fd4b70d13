import { randomBytes } from 'node:crypto';
import { seededRandom } from '../../src/cli/seed-shape.js';

/** Answers counted by status, and failures that never got one by their cause (ECONNREFUSED, timeout). */
export class Outcomes {
  private readonly counts = new Map<string, number>();

  add(outcome: string | number): void {
    const label = String(outcome);
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
  }

  /** Everything but 2xx (and 3xx), as `503×12, ECONNREFUSED×3`. */
  failures(): string {
    const failed = [...this.counts].filter(([label]) => !/^[23]\d\d$/.test(label)).sort(([x], [y]) => x.localeCompare(y));
    return failed.length ? failed.map(([label, count]) => `${label}×${count}`).join(', ') : 'none';
  }

  count(label: string | number): number {
    return this.counts.get(String(label)) ?? 0;
  }
}

export interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** Why a request got no answer: the socket's error code, or `timeout`. */
export class NoAnswer extends Error {}

function failureCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string; name?: string } }).cause;
  if ((error as Error).name === 'TimeoutError') return 'timeout';
  return cause?.code ?? cause?.name ?? (error as Error).name;
}

export async function call(base: string, method: string, path: string, options: {
  key?: string; body?: unknown; headers?: Record<string, string>; timeoutMs?: number;
} = {}): Promise<Answer> {
  try {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(options.key ? { authorization: `Bearer ${options.key}` } : {}),
        ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
        ...options.headers,
      },
      ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
  } catch (error) {
    throw new NoAnswer(failureCode(error));
  }
}

/** The status of an answer, or why there was none. */
export async function outcomeOf(request: Promise<Answer>): Promise<Answer | string> {
  return request.catch((error: unknown) => {
    if (error instanceof NoAnswer) return error.message;
    throw error;
  });
}

export interface TenantUser {
  key: string;
  userId: number;
}

export async function tenantWithUser(base: string, adminKey: string, name: string): Promise<TenantUser> {
  const slug = `${name}-${randomBytes(3).toString('hex')}`;
  const tenant = await call(base, 'POST', '/v1/tenants', { key: adminKey, body: { name, slug } });
  if (tenant.status !== 201) throw new Error(`tenant creation answered ${tenant.status}: ${JSON.stringify(tenant.body)}`);
  const key: string = tenant.body.data.apiKey.key;
  const user = await call(base, 'POST', '/v1/users', { key, body: { email: `${slug}@example.com`, username: slug, profile: { bio: 'v0' } } });
  if (user.status !== 201) throw new Error(`user creation answered ${user.status}: ${JSON.stringify(user.body)}`);
  return { key, userId: user.body.data.id };
}

/** The seeded generator the demo data uses: a run's faults can be replayed with its CHAOS_SEED. */
export const random = seededRandom;
