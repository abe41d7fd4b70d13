/** What one scenario measured; `null` where a figure does not apply to it. */
export interface Figures {
  sent: number | null;
  acknowledged: number | null;
  stored: number | null;
  lost: number;
  duplicated: number;
  stale: number;
  /** Answers that were not 2xx, by status (or the socket error when there was no answer). */
  failed: string;
  /** Milliseconds from the fault's end to the first success, as the scenario defines it. */
  recoveryMs: number | null;
  /** What the figures count (rows, reads) and anything else worth reading beside them. */
  notes: string[];
  /** A broken promise the columns above do not show (a batch stored in part): fails the run. */
  violations: string[];
}

export interface Outcome {
  name: string;
  budgetMs: number;
  tookMs: number;
  figures?: Figures;
  error?: string;
}

const show = (value: number | null) => (value === null ? '-' : value.toLocaleString('en-US'));

export function failedRun(outcome: Outcome): boolean {
  if (!outcome.figures) return true;
  const { lost, duplicated, stale, violations } = outcome.figures;
  return lost > 0 || duplicated > 0 || stale > 0 || violations.length > 0;
}

export function printOutcome(outcome: Outcome): void {
  const lines = [`\n== ${outcome.name} (${(outcome.tookMs / 1000).toFixed(1)} s of ${outcome.budgetMs / 1000} s)`];
  if (outcome.error) lines.push(`   ERROR: ${outcome.error}`);
  const figures = outcome.figures;
  if (figures) {
    lines.push(
      `   sent ${show(figures.sent)}  acknowledged ${show(figures.acknowledged)}  stored ${show(figures.stored)}`
      + `  lost ${show(figures.lost)}  duplicated ${show(figures.duplicated)}  stale ${show(figures.stale)}`,
      `   failed by status: ${figures.failed}`,
      `   recovery time: ${figures.recoveryMs === null ? '-' : `${Math.round(figures.recoveryMs)} ms`}`,
      ...figures.notes.map((note) => `   ${note}`),
      ...figures.violations.map((violation) => `   VIOLATION: ${violation}`),
    );
  }
  lines.push(`   ${failedRun(outcome) ? 'FAIL' : 'pass'}`);
  console.log(lines.join('\n'));
}
