import { api, type RetentionCohort } from '../api';
import { navigate } from '../router';
import { field } from '../fields';
import { addDays, Async, formatDay, formatNumber, formatPercent, isDay, Lineage, today, useAsync } from '../ui';

const monday = (day: string) => addDays(day, -((new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7));

/**
 * Light to dark blue by share retained. The scale skips the middle lightnesses, where neither dark
 * nor white text reaches a 4.5:1 contrast: light cells carry dark text, dark cells white text.
 */
function cellStyle(share: number) {
  const lightness = share < 0.5 ? 96 - share * 40 : 45 - (share - 0.5) * 30;
  return { background: `hsl(220 70% ${lightness}%)`, color: share < 0.5 ? '#111827' : '#fff' };
}

export function bestCohort(cohorts: RetentionCohort[], week = 1): RetentionCohort | undefined {
  return cohorts.filter((cohort) => cohort.size > 0 && cohort.retained.length > week)
    .sort((a, b) => b.retained[week]! / b.size - a.retained[week]! / a.size)[0];
}

export function Retention({ params }: { params: Record<string, string> }) {
  const weeks = Math.min(26, Math.max(2, Number(params.weeks) || 12));
  const from = isDay(params.from) ? monday(params.from) : monday(addDays(today(), -7 * (weeks - 1)));
  const state = useAsync(() => api.retention({ from, weeks }), [from, weeks]);
  return (
    <section aria-labelledby="retention-title">
      <h2 id="retention-title">Retention by weekly cohort</h2>
      <form class="toolbar" onSubmit={(event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        navigate('/retention', { from: field(form, 'from'), weeks: field(form, 'weeks') });
      }}>
        <label>First cohort week <input type="date" name="from" value={from} required /></label>
        <label>Weeks <input type="number" name="weeks" min={2} max={26} value={weeks} required /></label>
        <button type="submit">Apply</button>
      </form>
      <Async state={state} what="cohorts">
        {({ data, etlRunIds }) => {
          const best = bestCohort(data);
          if (data.every((cohort) => cohort.size === 0)) return <p class="empty">No user was first seen in these weeks. Pick an earlier first week, or run <code>npx strata etl run</code>.</p>;
          return (
            <>
              {best && <p class="summary">Best week-1 retention: the cohort of <strong>{formatDay(best.cohort)}</strong>, {formatPercent(best.retained[1]! / best.size)} of {formatNumber(best.size)} users came back the week after.</p>}
              <div class="table-wrap" tabIndex={0} role="region" aria-label="cohort grid">
                <table class="cohorts">
                  <caption class="sr-only">Share of each weekly cohort active again N weeks after its first week</caption>
                  <thead><tr><th scope="col">Cohort (week of)</th><th scope="col" class="num">Users</th>
                    {data.map((_, week) => <th scope="col" class="num">W{week}</th>)}</tr></thead>
                  <tbody>
                    {data.map((cohort) => (
                      <tr class={cohort === best ? 'best' : undefined}>
                        <th scope="row">{formatDay(cohort.cohort)}</th>
                        <td class="num">{formatNumber(cohort.size)}</td>
                        {data.map((_, week) => {
                          if (week >= cohort.retained.length) return <td class="future" aria-label="not yet" />;
                          const share = cohort.size === 0 ? 0 : cohort.retained[week]! / cohort.size;
                          return <td class="num cell" style={cellStyle(share)} title={`${formatNumber(cohort.retained[week]!)} of ${formatNumber(cohort.size)} users`}>
                            {cohort.size === 0 ? '–' : formatPercent(share)}</td>;
                        })}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
              <p class="muted">A cohort is the users first active in that week; W1 is the share active again the week after, and so on.</p>
              <Lineage ids={etlRunIds} />
            </>
          );
        }}
      </Async>
    </section>
  );
}
