import type { Figures } from './support/figures.js';
import type { Scope } from './support/processes.js';
export async function redisStall(_scope: Scope, _options: { serverUrl: string; random: () => number; budgetMs: number }): Promise<Figures> {
  throw new Error('not yet');
}
