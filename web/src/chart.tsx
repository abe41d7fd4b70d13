import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series { label: string; values: (number | null)[]; color: string; dashed?: boolean }

const PALETTE = ['#3867d6', '#20bf6b', '#eb3b5a', '#f7b731', '#8854d0', '#0fb9b1', '#fa8231', '#4b6584'];
export const color = (index: number) => PALETTE[index % PALETTE.length]!;

const numberFormat = new Intl.NumberFormat('en');
const dayLabel = (seconds: number) => new Date(seconds * 1000).toLocaleDateString('en', { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric' });

/**
 * A floating box beside the cursor with the day and each series' value there, as a uPlot plugin
 * (uPlot ships none; its own legend stays under the chart). Built with DOM calls and positioned
 * through the CSSOM, which the strict CSP allows, never through a `style` attribute. `announce`
 * receives the same text for a live region when the cursor was moved from the keyboard.
 */
function tooltipPlugin(series: Series[], announce: (text: string) => void): { plugin: uPlot.Plugin; keyboard: { active: boolean } } {
  const tip = document.createElement('div');
  tip.className = 'chart-tip';
  tip.hidden = true;
  const keyboard = { active: false };
  const plugin: uPlot.Plugin = {
    hooks: {
      init: (plot) => { plot.over.appendChild(tip); },
      setCursor: (plot) => {
        const { idx, left, top } = plot.cursor;
        if (idx == null || left == null || left < 0) {
          tip.hidden = true;
          return;
        }
        const seconds = plot.data[0][idx]!;
        const day = new Date(seconds * 1000).toISOString().slice(0, 10);
        const title = document.createElement('div');
        title.className = 'chart-tip-day';
        title.textContent = dayLabel(seconds);
        const rows = series.flatMap((one, index) => {
          const value = plot.data[index + 1]?.[idx];
          if (value == null) return [];
          const row = document.createElement('div');
          row.dataset.series = one.label;
          const swatch = document.createElement('span');
          swatch.className = 'chart-tip-swatch';
          swatch.style.background = one.color;
          const name = document.createElement('span');
          name.textContent = one.label;
          const amount = document.createElement('strong');
          amount.className = 'chart-tip-value';
          amount.textContent = numberFormat.format(value);
          row.append(swatch, name, amount);
          return [row];
        });
        tip.dataset.day = day;
        tip.replaceChildren(title, ...rows);
        tip.hidden = false;
        // Beside the cursor, flipped to its left past the middle, and kept inside the plot.
        const width = plot.over.clientWidth;
        const x = left > width / 2 ? left - tip.offsetWidth - 12 : left + 12;
        const y = Math.min(Math.max(0, (top ?? 0) - tip.offsetHeight / 2), Math.max(0, plot.over.clientHeight - tip.offsetHeight));
        tip.style.transform = `translate(${Math.max(0, Math.round(x))}px, ${Math.round(y)}px)`;
        if (keyboard.active) announce(`${dayLabel(seconds)}: ${rows.map((row) => `${row.dataset.series} ${row.lastChild?.textContent}`).join(', ')}`);
      },
    },
  };
  return { plugin, keyboard };
}

/**
 * A time series chart (uPlot: canvas, about 20 KB gzipped, made for time series): dated x axis,
 * y axis, a legend, and a tooltip at the cursor. Focused, the arrow keys (Home, End) move the
 * cursor from day to day and a live region reads the day and its values.
 */
export function TimeChart({ days, series, label, height = 260 }: { days: string[]; series: Series[]; label: string; height?: number }) {
  const box = useRef<HTMLDivElement>(null);
  const live = useRef<HTMLParagraphElement>(null);
  const move = useRef<(key: string) => boolean>(() => false);
  useEffect(() => {
    const element = box.current;
    if (!element) return undefined;
    const width = () => Math.max(280, element.clientWidth);
    const tooltip = tooltipPlugin(series, (text) => { if (live.current) live.current.textContent = text; });
    const xs = days.map((day) => Date.parse(`${day}T00:00:00Z`) / 1000);
    const plot = new uPlot({
      width: width(),
      height,
      plugins: [tooltip.plugin],
      scales: { x: { time: true }, y: { range: (_self, _min, max) => [0, Math.max(1, max * 1.08)] } },
      axes: [
        { stroke: '#4b5563', grid: { stroke: '#e5e7eb' } },
        { stroke: '#4b5563', grid: { stroke: '#e5e7eb' }, size: 56, values: (_self, ticks) => ticks.map((tick) => new Intl.NumberFormat('en', { notation: 'compact' }).format(tick)) },
      ],
      series: [
        { label: 'Day', value: (_self, value) => (value == null ? '–' : new Date(value * 1000).toLocaleDateString('en', { timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short' })) },
        ...series.map((one) => ({
          label: one.label, stroke: one.color, width: 2, dash: one.dashed ? [6, 4] : undefined,
          value: (_self: uPlot, value: number | null) => (value == null ? '–' : numberFormat.format(value)),
        })),
      ],
      cursor: { drag: { x: false, y: false } },
    }, [xs, ...series.map((one) => one.values)] as uPlot.AlignedData, element);
    move.current = (key) => {
      if (xs.length === 0) return false;
      const current = plot.cursor.idx ?? -1;
      const next = key === 'Home' ? 0 : key === 'End' ? xs.length - 1
        : key === 'ArrowRight' ? Math.min(xs.length - 1, current + 1) : key === 'ArrowLeft' ? Math.max(0, current < 0 ? xs.length - 1 : current - 1) : null;
      if (next === null) return false;
      const value = series.map((one) => one.values[next]).find((one) => one != null) ?? 0;
      tooltip.keyboard.active = true;
      plot.setCursor({ left: plot.valToPos(xs[next]!, 'x'), top: plot.valToPos(value, 'y') });
      return true;
    };
    const hide = () => { tooltip.keyboard.active = false; plot.setCursor({ left: -10, top: -10 }); };
    const pointer = () => { tooltip.keyboard.active = false; };
    element.addEventListener('focusout', hide);
    element.addEventListener('mouseenter', pointer);
    const observer = new ResizeObserver(() => plot.setSize({ width: width(), height }));
    observer.observe(element);
    return () => { observer.disconnect(); element.removeEventListener('focusout', hide); element.removeEventListener('mouseenter', pointer); plot.destroy(); };
  }, [days, series, height]);
  return (
    <>
      <div class="chart" ref={box} role="img" tabIndex={0} aria-label={`${label}. Arrow keys read the values day by day.`}
        onKeyDown={(event) => { if (move.current(event.key)) event.preventDefault(); }} />
      <p class="sr-only" aria-live="polite" ref={live} />
    </>
  );
}
