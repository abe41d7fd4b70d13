import { useMemo } from 'preact/hooks';
import { api, type ActiveUsersPoint, type MetricPoint } from '../api';
import { TimeChart, color } from '../chart';
import { navigate } from '../router';
import {
  addDays, Async, change, DateRange, daysBetween, formatDay, formatNumber, isDay, Lineage, Table, today, useAsync,
} from '../ui';

export function rangeFrom(params: Record<string, string>, defaultDays = 28): { from: string; to: string } {
  const to = isDay(params.to) ? params.to : today();
  const from = isDay(params.from) && params.from <= to ? params.from : addDays(to, -(defaultDays - 1));
  return { from, to };
}

function Card({ label, value, previous, against }: { label: string; value: number; previous: number; against: string }) {
  const delta = change(value, previous);
  return (
    <div class="card">
      <span class="card-label">{label}</span>
      <strong data-testid={label}>{formatNumber(value)}</strong>
      <span class={`delta ${delta.direction}`}>{delta.text} <span class="muted">vs {formatNumber(previous)} {against}</span></span>
    </div>
  );
}

export interface TypeGrowth { type: string; current: number; previous: number }

export function growthByDimension(current: MetricPoint[], previous: MetricPoint[]): TypeGrowth[] {
  const rows = new Map<string, TypeGrowth>();
  const row = (type: string) => rows.get(type) ?? rows.set(type, { type, current: 0, previous: 0 }).get(type)!;
  for (const point of current) row(point.dimension).current += point.value;
  for (const point of previous) row(point.dimension).previous += point.value;
  return [...rows.values()].sort((a, b) => b.current - a.current);
}

export function Overview({ params }: { params: Record<string, string> }) {
  const { from, to } = rangeFrom(params);
  const length = daysBetween(from, to) + 1;
  const previousFrom = addDays(from, -length);
  const state = useAsync(async () => {
    const [active, types, previousTypes] = await Promise.all([
      api.activeUsers({ from: previousFrom, to }),
      api.metrics({ name: 'activities', from, to, granularity: 'day' }),
      api.metrics({ name: 'activities', from: previousFrom, to: addDays(from, -1), granularity: 'day' }),
    ]);
    return { active, types, previousTypes };
  }, [from, to]);

  return (
    <section aria-labelledby="overview-title">
      <h2 id="overview-title">Active users</h2>
      <DateRange from={from} to={to} onChange={(range) => navigate('/overview', range)} />
      <Async state={state} what="active users">
        {({ active, types, previousTypes }) => <OverviewBody points={active.data} from={from} to={to} length={length}
          growth={growthByDimension(types.data, previousTypes.data)} lineage={[...new Set([...active.etlRunIds, ...types.etlRunIds])].sort((a, b) => a - b)} />}
      </Async>
    </section>
  );
}

function OverviewBody({ points, from, to, length, growth, lineage }: { points: ActiveUsersPoint[]; from: string; to: string; length: number; growth: TypeGrowth[]; lineage: number[] }) {
  const byDay = useMemo(() => new Map(points.map((point) => [point.day, point])), [points]);
  const at = (day: string) => byDay.get(day) ?? { day, dau: 0, wau: 0, mau: 0 };
  const current = points.filter((point) => point.day >= from);
  const days = current.map((point) => point.day);
  const series = useMemo(() => [
    { label: 'DAU', values: current.map((point) => point.dau), color: color(0) },
    { label: `DAU, previous ${length} days`, values: current.map((point) => at(addDays(point.day, -length)).dau), color: '#9ca3af', dashed: true },
    { label: 'WAU', values: current.map((point) => point.wau), color: color(1) },
  ], [points, from, to]);
  const last = at(to);
  const empty = points.every((point) => point.mau === 0);
  return (
    <>
      <div class="cards">
        <Card label="Active today (DAU)" value={last.dau} previous={at(addDays(to, -7)).dau} against="a week before" />
        <Card label="Active this week (WAU)" value={last.wau} previous={at(addDays(to, -7)).wau} against="the week before" />
        <Card label="Active in 30 days (MAU)" value={last.mau} previous={at(addDays(to, -30)).mau} against="the 30 days before" />
      </div>
      <p class="muted">Counts for the day, 7 days and 30 days ending {formatDay(to)} (UTC).</p>
      {empty
        ? <p class="empty">No activity counted in this range. Load some with <code>npx strata seed</code>, then run <code>npx strata etl run</code>.</p>
        : <TimeChart days={days} series={series} label={`Daily and weekly active users from ${formatDay(from)} to ${formatDay(to)}, with the previous period dashed`} />}
      <h3>Activity by type</h3>
      <Table caption="activities by type, this period against the previous one" rows={growth}
        empty="No activity in this range or the one before."
        columns={[
          { label: 'Type', cell: (row) => <a href={`#/metrics?name=activities&from=${from}&to=${to}&dimension=${encodeURIComponent(row.type)}`}>{row.type}</a> },
          { label: `Last ${length} days`, numeric: true, cell: (row) => formatNumber(row.current) },
          { label: `${length} days before`, numeric: true, cell: (row) => formatNumber(row.previous) },
          { label: 'Change', numeric: true, cell: (row) => { const delta = change(row.current, row.previous); return <span class={`delta ${delta.direction}`}>{delta.text}</span>; } },
        ]} />
      <Lineage ids={lineage} />
    </>
  );
}
