import type { ComponentChildren } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { errorMessage, StrataApiError } from './api';
import { field } from './fields';

export interface AsyncState<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  /** Loads again, and settles once the answer (or its error) is on screen. */
  redraw: () => Promise<void>;
}

/** Runs `load` whenever `deps` change; an answer to an older request never overwrites a newer one. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): AsyncState<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [round, setRound] = useState(0);
  const waiting = useRef<{ round: number; drawn: () => void }[]>([]);
  const answered = useRef(-1);
  useEffect(() => {
    let current = true;
    setState((previous) => ({ data: previous.data, loading: true }));
    const settle = (next: { data?: T; error?: unknown }) => {
      if (!current) return;
      answered.current = round;
      setState({ ...next, loading: false });
    };
    load().then((data) => settle({ data }), (error: unknown) => settle({ error }));
    return () => { current = false; };
  }, [...deps, round]);
  // Effects run after the DOM is updated: a reload's caller may then read or reset what it drew.
  useEffect(() => {
    if (state.loading) return;
    const drawn = waiting.current.filter((waiter) => waiter.round <= answered.current);
    waiting.current = waiting.current.filter((waiter) => waiter.round > answered.current);
    for (const waiter of drawn) waiter.drawn();
  }, [state]);
  const asked = useRef(0);
  const redraw = useCallback(() => new Promise<void>((drawn) => {
    asked.current += 1;
    waiting.current.push({ round: asked.current, drawn });
    setRound(asked.current);
  }), []);
  const reload = useCallback(() => { void redraw(); }, [redraw]);
  return { data: state.data, error: state.error, loading: state.loading, reload, redraw };
}

const NEXT_STEP: Record<string, string> = {
  UNAUTHENTICATED: 'The key was refused or revoked: sign out and sign in with a valid key.',
  NOT_FOUND: 'It does not exist in this tenant (or was deleted): go back to the list.',
  READ_ONLY_KEY: 'This key is read-only: sign in with a read-write key to change data.',
  RATE_LIMITED: 'Too many requests for this key: wait a minute and retry.',
  DATABASE_UNAVAILABLE: 'The database does not answer: check the server, then retry.',
};

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const apiError = error instanceof StrataApiError ? error : null;
  return (
    <div class="error" role="alert">
      <strong>{apiError ? (apiError.code ?? `HTTP_${apiError.status}`) : 'Error'}</strong>: {apiError ? errorMessage(apiError) : error instanceof Error ? error.message : String(error)}
      {apiError && apiError.details.length > 0 && (
        <ul>{apiError.details.map((detail, index) => <li key={index}>{detail.path ? <code>{detail.path}</code> : null} {detail.message}</li>)}</ul>
      )}
      {apiError?.code && NEXT_STEP[apiError.code] && <p>{NEXT_STEP[apiError.code]}</p>}
      {onRetry && <button type="button" onClick={onRetry}>Retry</button>}
    </div>
  );
}

export function Loading({ what = 'data' }: { what?: string }) {
  return <p class="loading" role="status">Loading {what}…</p>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}

/** Loading, error and content of one request, the same way on every view. */
export function Async<T>({ state, what, children }: { state: AsyncState<T>; what?: string; children: (data: T) => ComponentChildren }) {
  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} />;
  if (state.data === undefined) return <Loading what={what} />;
  return <div class={state.loading ? 'stale' : undefined} aria-busy={state.loading}>{children(state.data)}</div>;
}

export function Lineage({ ids }: { ids: number[] }) {
  return (
    <details class="lineage">
      <summary>Lineage: {ids.length === 0 ? 'no ETL run yet' : `${ids.length} ETL run${ids.length === 1 ? '' : 's'}`}</summary>
      {ids.length === 0
        ? <p>Nothing counted yet: run <code>npx strata etl run</code> (the server also runs it every few minutes).</p>
        : <p>Computed by ETL runs <span class="run-ids">{ids.map((id, index) => <>{index > 0 ? ', ' : ''}<a href={`#/etl-runs/${id}`}>{id}</a></>)}</span>.</p>}
    </details>
  );
}

export interface Column<T> { label: string; cell: (row: T) => ComponentChildren; numeric?: boolean }

export function Table<T>({ columns, rows, caption, empty }: { columns: Column<T>[]; rows: T[]; caption: string; empty: ComponentChildren }) {
  if (rows.length === 0) return <Empty>{empty}</Empty>;
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={caption}>
      <table>
        <caption class="sr-only">{caption}</caption>
        <thead><tr>{columns.map((column) => <th scope="col" class={column.numeric ? 'num' : undefined}>{column.label}</th>)}</tr></thead>
        <tbody>{rows.map((row) => <tr>{columns.map((column) => <td class={column.numeric ? 'num' : undefined}>{column.cell(row)}</td>)}</tr>)}</tbody>
      </table>
    </div>
  );
}

export function Pager({ nextCursor, cursor, go }: { nextCursor: string | null; cursor?: string; go: (cursor?: string) => void }) {
  if (!nextCursor && !cursor) return null;
  return (
    <nav class="pager" aria-label="pages">
      <button type="button" disabled={!cursor} onClick={() => go(undefined)}>First page</button>
      <button type="button" disabled={!nextCursor} onClick={() => go(nextCursor ?? undefined)}>Next page</button>
    </nav>
  );
}

export const number = new Intl.NumberFormat('en');
export const formatNumber = (value: number) => number.format(value);
export const formatPercent = (value: number) => `${(value * 100).toFixed(value < 0.1 ? 1 : 0)}%`;
export const formatDay = (day: string) => new Date(`${day.slice(0, 10)}T00:00:00Z`).toLocaleDateString('en', { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' });
export const formatTime = (at: string) => new Date(at).toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short' });

export function change(current: number, previous: number): { text: string; direction: 'up' | 'down' | 'flat' } {
  if (previous === 0) return { text: current === 0 ? 'no change' : 'new', direction: current === 0 ? 'flat' : 'up' };
  const ratio = (current - previous) / previous;
  const direction = Math.abs(ratio) < 0.005 ? 'flat' : ratio > 0 ? 'up' : 'down';
  return { text: `${ratio > 0 ? '+' : ''}${(ratio * 100).toFixed(1)}%`, direction };
}

export const DAY_MS = 86_400_000;
export const today = () => new Date().toISOString().slice(0, 10);
export const addDays = (day: string, days: number) => new Date(Date.parse(`${day}T00:00:00Z`) + days * DAY_MS).toISOString().slice(0, 10);
export const daysBetween = (from: string, to: string) => Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS);
export const isDay = (value: string | undefined): value is string => !!value && /^\d{4}-\d{2}-\d{2}$/.test(value) && !Number.isNaN(Date.parse(value));

export function DateRange({ from, to, onChange }: { from: string; to: string; onChange: (range: { from: string; to: string }) => void }) {
  const presets = [7, 30, 90];
  return (
    <form class="toolbar" onSubmit={(event) => {
      event.preventDefault();
      const form = new FormData(event.currentTarget);
      onChange({ from: field(form, 'from'), to: field(form, 'to') });
    }}>
      <label>From <input type="date" name="from" value={from} max={to} required /></label>
      <label>To <input type="date" name="to" value={to} min={from} required /></label>
      <button type="submit">Apply</button>
      <span class="presets" role="group" aria-label="quick ranges">
        {presets.map((days) => (
          <button type="button" aria-pressed={daysBetween(from, to) === days - 1 && to === today()} onClick={() => onChange({ from: addDays(today(), -(days - 1)), to: today() })}>
            {days} days
          </button>
        ))}
      </span>
    </form>
  );
}
