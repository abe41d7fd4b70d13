import { api } from '../api';
import { TimeChart, color } from '../chart';
import { navigate } from '../router';
import { addDays, Async, change, DateRange, daysBetween, formatDay, formatNumber, Lineage, Table, useAsync } from '../ui';
import { growthByDimension, rangeFrom } from './overview';

const NAMES = { activities: 'Activities by type', events: 'Events by name', new_users: 'New users' } as const;
const GRANULARITIES = ['day', 'week', 'month'] as const;

export function Metrics({ params }: { params: Record<string, string> }) {
  const { from, to } = rangeFrom(params, 90);
  const name = params.name && params.name in NAMES ? params.name : 'activities';
  const granularity = GRANULARITIES.includes(params.granularity as 'day') ? params.granularity! : 'week';
  const dimension = params.dimension || undefined;
  const length = daysBetween(from, to) + 1;
  const go = (next: Record<string, string | undefined>) => navigate('/metrics', { name, granularity, from, to, dimension, ...next });
  const state = useAsync(() => Promise.all([
    api.metrics({ name, from, to, granularity, dimension }),
    api.metrics({ name, from: addDays(from, -length), to: addDays(from, -1), granularity, dimension }),
  ]), [name, granularity, from, to, dimension]);

  return (
    <section aria-labelledby="metrics-title">
      <h2 id="metrics-title">Metrics</h2>
      <div class="toolbar">
        <label>Metric <select value={name} onChange={(event) => go({ name: event.currentTarget.value, dimension: undefined })}>
          {Object.entries(NAMES).map(([value, label]) => <option value={value}>{label}</option>)}
        </select></label>
        <label>Per <select value={granularity} onChange={(event) => go({ granularity: event.currentTarget.value })}>
          {GRANULARITIES.map((value) => <option value={value}>{value}</option>)}
        </select></label>
        {dimension && <button type="button" onClick={() => go({ dimension: undefined })}>Show every {name === 'events' ? 'name' : 'type'} (now: {dimension})</button>}
      </div>
      <DateRange from={from} to={to} onChange={(range) => go(range)} />
      <Async state={state} what="metrics">
        {([current, previous]) => {
          const periods = [...new Set(current.data.map((point) => point.period))].sort();
          const growth = growthByDimension(current.data, previous.data);
          const shown = growth.slice(0, 8);
          const series = shown.map((row, index) => ({
            label: row.type,
            values: periods.map((period) => current.data.find((point) => point.period === period && point.dimension === row.type)?.value ?? 0),
            color: color(index),
          }));
          return (
            <>
              {periods.length === 0
                ? <p class="empty">Nothing counted for this metric between {formatDay(from)} and {formatDay(to)}. Widen the range, or run <code>npx strata etl run</code>.</p>
                : <TimeChart days={periods} series={series} label={`${NAMES[name as keyof typeof NAMES]} per ${granularity}`} />}
              <h3>Breakdown, against the {length} days before</h3>
              <Table caption={`${name} by dimension`} rows={growth} empty="No breakdown for this range."
                columns={[
                  { label: name === 'events' ? 'Event name' : name === 'new_users' ? 'Dimension' : 'Activity type',
                    cell: (row) => <a href={`#/metrics?name=${name}&granularity=${granularity}&from=${from}&to=${to}&dimension=${encodeURIComponent(row.type)}`}>{row.type || '(all)'}</a> },
                  { label: 'This period', numeric: true, cell: (row) => formatNumber(row.current) },
                  { label: 'Previous period', numeric: true, cell: (row) => formatNumber(row.previous) },
                  { label: 'Change', numeric: true, cell: (row) => { const delta = change(row.current, row.previous); return <span class={`delta ${delta.direction}`}>{delta.text}</span>; } },
                ]} />
              <Lineage ids={current.etlRunIds} />
            </>
          );
        }}
      </Async>
    </section>
  );
}
