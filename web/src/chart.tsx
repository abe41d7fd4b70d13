import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series { label: string; values: (number | null)[]; color: string; dashed?: boolean }

const PALETTE = ['#3867d6', '#20bf6b', '#eb3b5a', '#f7b731', '#8854d0', '#0fb9b1', '#fa8231', '#4b6584'];
export const color = (index: number) => PALETTE[index % PALETTE.length]!;

/**
 * A time series chart (uPlot: canvas, about 20 KB gzipped, made for time series): dated x axis,
 * y axis, and a legend that shows each series' value under the cursor as the tooltip does.
 */
export function TimeChart({ days, series, label, height = 260 }: { days: string[]; series: Series[]; label: string; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const width = () => Math.max(280, element.clientWidth);
    const plot = new uPlot({
      width: width(),
      height,
      scales: { x: { time: true }, y: { range: (_self, _min, max) => [0, Math.max(1, max * 1.08)] } },
      axes: [
        { stroke: '#4b5563', grid: { stroke: '#e5e7eb' } },
        { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, size: 56, values: (_self, ticks) => ticks.map((tick) => new Intl.NumberFormat('en', { notation: 'compact' }).format(tick)) },
      ],
      series: [
        { label: 'Day', value: (_self, value) => (value == null ? '–' : new Date(value * 1000).toLocaleDateString('en', { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' })) },
        ...series.map((one) => ({
          label: one.label, stroke: one.color, width: 2, dash: one.dashed ? [6, 4] : undefined,
          value: (_self: uPlot, value: number | null) => (value == null ? '–' : new Intl.NumberFormat('en').format(value)),
        })),
      ],
      cursor: { drag: { x: false, y: false } },
    }, [days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000), ...series.map((one) => one.values)] as uPlot.AlignedData, element);
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height }));
    observer.observe(element);
    return () => { observer.disconnect(); plot.destroy(); };
  }, [days, series, height]);
  return <div class="chart" ref={box} role="img" aria-label={label} />;
}
