import { useState } from 'preact/hooks';
import { api, type RetentionCohort } from '../api';
import { navigate } from '../router';
import { field, handled } from '../fields';
import { PagedTable } from '../table';
import { addDays, Async, ErrorBox, formatDay, formatNumber, formatPercent, formatTime, Lineage, Table, today, useAsync } from '../ui';

const KINDS: Record<string, string> = { weekly_activity: 'Weekly activity', retention_cohort: 'Retention cohorts' };

interface WeekSummary { weekStart: string; activities: number; activitiesByType: Record<string, number>; events: number; activeUsers: number; newUsers: number }

export function Reports({ params }: { params: Record<string, string> }) {
  const state = useAsync(() => api.reports({ limit: 50, cursor: params.cursor, kind: params.kind }), [params.cursor, params.kind]);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <section aria-labelledby="reports-title">
      <h2 id="reports-title">Reports</h2>
      <form class="toolbar" onSubmit={handled(async (event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        setBusy(true);
        try {
          const { data } = await api.createReport({ kind: field(form, 'kind'), from: field(form, 'from'), to: field(form, 'to') });
          navigate(`/reports/${data.id}`);
        } catch (failure) {
          setError(failure);
        } finally {
          setBusy(false);
        }
      }, setError)}>
        <label>Kind <select name="kind">{Object.entries(KINDS).map(([value, label]) => <option value={value}>{label}</option>)}</select></label>
        <label>From <input type="date" name="from" value={addDays(today(), -27)} required /></label>
        <label>To <input type="date" name="to" value={today()} required /></label>
        <button type="submit" disabled={busy}>Create report</button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
      <PagedTable state={state} what="reports" caption="reports" empty="No report yet: create one above (the server also writes both kinds every Monday)."
        columns={[
          { label: 'Report', cell: (row) => <a href={`#/reports/${row.id}`}>#{row.id} {KINDS[row.kind] ?? row.kind}</a> },
          { label: 'Period', cell: (row) => `${formatDay(row.periodStart)} – ${formatDay(row.periodEnd)}` },
          { label: 'ETL runs', cell: (row) => ((row.etlRunIds ?? []).length === 0 ? '–' : (row.etlRunIds ?? []).map((run, index) => <>{index > 0 ? ', ' : ''}<a href={`#/etl-runs/${run}`}>{run}</a></>)) },
          { label: 'Created', cell: (row) => formatTime(row.createdAt) },
        ]}
        cursor={params.cursor} go={(cursor) => navigate('/reports', { ...params, cursor })} />
    </section>
  );
}

export function ReportDetail({ id }: { id: number }) {
  const state = useAsync(() => api.report(id), [id]);
  return (
    <section aria-labelledby="report-title">
      <p><a href="#/reports">← Reports</a></p>
      <Async state={state} what="the report">
        {({ data: report }) => {
          const body = report.body as { weeks?: WeekSummary[] | number; cohorts?: RetentionCohort[] };
          return (
            <>
              <h2 id="report-title">{KINDS[report.kind] ?? report.kind}, {formatDay(report.periodStart)} – {formatDay(report.periodEnd)}</h2>
              <p class="muted">Report #{report.id}, created {formatTime(report.createdAt)}.</p>
              {Array.isArray(body.weeks) && (
                <Table caption="weekly activity" rows={body.weeks} empty="No week in this report."
                  columns={[
                    { label: 'Week of', cell: (row) => formatDay(row.weekStart) },
                    { label: 'Active users', numeric: true, cell: (row) => formatNumber(row.activeUsers) },
                    { label: 'New users', numeric: true, cell: (row) => formatNumber(row.newUsers) },
                    { label: 'Activities', numeric: true, cell: (row) => formatNumber(row.activities) },
                    { label: 'Events', numeric: true, cell: (row) => formatNumber(row.events) },
                    { label: 'By type', cell: (row) => Object.entries(row.activitiesByType).map(([type, count]) => `${type} ${formatNumber(count)}`).join(', ') },
                  ]} />
              )}
              {body.cohorts && (
                <Table caption="retention cohorts" rows={body.cohorts} empty="No cohort in this report."
                  columns={[
                    { label: 'Cohort', cell: (row) => formatDay(row.cohort) },
                    { label: 'Users', numeric: true, cell: (row) => formatNumber(row.size) },
                    { label: 'Retained by week', cell: (row) => row.retained.map((count) => (row.size ? formatPercent(count / row.size) : '–')).join(' · ') },
                  ]} />
              )}
              <Lineage ids={report.etlRunIds ?? []} />
            </>
          );
        }}
      </Async>
    </section>
  );
}
