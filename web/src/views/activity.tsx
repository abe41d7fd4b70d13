import type { ComponentChildren } from 'preact';
import { api, type Activity } from '../api';
import { navigate } from '../router';
import { field } from '../fields';
import { PagedTable } from '../table';
import { formatTime, Table, useAsync, type Column } from '../ui';

const activityColumns: Column<Activity>[] = [
  { label: 'When', cell: (row) => <time dateTime={row.createdAt}>{formatTime(row.createdAt)}</time> },
  { label: 'User', cell: (row) => <a href={`#/users/${row.userId}`}>#{row.userId}</a> },
  { label: 'Type', cell: (row) => row.type },
  { label: 'Metadata', cell: (row) => <span class="tags">{Object.entries(row.metadata).map(([name, value]) => (
    <span class="tag">{name}: {typeof value === 'string' ? value : JSON.stringify(value)}</span>))}</span> },
];

export function ActivityTable({ rows, empty }: { rows: Activity[]; empty: ComponentChildren }) {
  return <Table caption="activity" rows={rows} empty={empty} columns={activityColumns} />;
}

const toInstant = (value: string) => (value ? new Date(value).toISOString() : undefined);
const toLocalInput = (iso: string | undefined) => (iso ? new Date(new Date(iso).getTime() - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16) : '');

export function ActivityFeed({ params }: { params: Record<string, string> }) {
  const { userId, type, since, until, metadata, cursor } = params;
  const state = useAsync(() => api.activities({ userId, type, since, until, metadata, cursor, limit: 50 }), [userId, type, since, until, metadata, cursor]);
  return (
    <section aria-labelledby="activity-title">
      <h2 id="activity-title">Activity feed</h2>
      <form class="toolbar filters" onSubmit={(event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        const value = (name: string) => field(form, name).trim();
        navigate('/activity', { userId: value('userId'), type: value('type'), since: toInstant(value('since')), until: toInstant(value('until')), metadata: value('metadata') });
      }}>
        <label>User id <input name="userId" value={userId ?? ''} inputMode="numeric" pattern="[0-9]*" size={6} /></label>
        <label>Type <input name="type" value={type ?? ''} placeholder="login" size={10} /></label>
        <label>Since <input type="datetime-local" name="since" value={toLocalInput(since)} /></label>
        <label>Until <input type="datetime-local" name="until" value={toLocalInput(until)} /></label>
        <label>Metadata contains <input name="metadata" value={metadata ?? ''} placeholder='{"plan":"pro"}' /></label>
        <button type="submit">Filter</button>
        <a href="#/activity">Clear</a>
      </form>
      <PagedTable state={state} what="activity" caption="activity" columns={activityColumns} empty="No activity matches these filters: clear some to see more."
        cursor={cursor} go={(next) => navigate('/activity', { ...params, cursor: next })} />
    </section>
  );
}
