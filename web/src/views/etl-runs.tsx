import { api, type EtlRun, type PipelineFreshness } from '../api';
import { href, navigate } from '../router';
import { field } from '../fields';
import { Async, formatNumber, formatTime, Pager, Table, useAsync } from '../ui';

const STATUSES = ['succeeded', 'failed', 'running'] as const;

/** A duration in the largest units that keep it readable: 850 ms, 4.2 s, 3 min 10 s, 2 h 5 min, 3 d 4 h. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const whole = Math.round(seconds);
  const [days, hours, minutes] = [Math.floor(whole / 86_400), Math.floor(whole / 3600) % 24, Math.floor(whole / 60) % 60];
  if (days > 0) return `${days} d ${hours} h`;
  if (hours > 0) return `${hours} h ${minutes} min`;
  return `${minutes} min ${whole % 60} s`;
}

/** The rows a run wrote: the admin key's answers only (a tenant's own share of them is not recountable). */
const rowsWritten = (run: EtlRun): number | undefined => (run as Partial<Pick<EtlRun, 'rowsWritten'>>).rowsWritten;

function Status({ run }: { run: EtlRun }) {
  return <span class={`badge status-${run.status}`}>{run.status}</span>;
}

function Reasons({ run }: { run: EtlRun }) {
  if (run.quarantined.rows === 0) return <>0</>;
  return (
    <>
      <strong>{formatNumber(run.quarantined.rows)}</strong>
      <ul class="reasons">{run.quarantined.reasons.map((reason) => <li><span class="num">{formatNumber(reason.rows)}</span> {reason.reason}</li>)}</ul>
    </>
  );
}

export function Freshness({ pipeline }: { pipeline: PipelineFreshness }) {
  const stale = pipeline.failuresSinceLastSuccess > 0;
  return (
    <div class="cards">
      <div class="card">
        <span class="card-label">Lag (age of the watermark)</span>
        <strong data-testid="lag">{pipeline.lagSeconds === null ? 'never run' : formatDuration(pipeline.lagSeconds * 1000)}</strong>
        <span class="delta muted">{pipeline.lastSucceededAt ? `last success ${formatTime(pipeline.lastSucceededAt)}` : 'no run has succeeded yet'}</span>
      </div>
      <div class="card">
        <span class="card-label">Last succeeded run</span>
        <strong>{pipeline.lastSucceededRunId === null ? '–' : <a href={href(`/etl-runs/${pipeline.lastSucceededRunId}`)}>#{pipeline.lastSucceededRunId}</a>}</strong>
      </div>
      <div class="card">
        <span class="card-label">Failures since</span>
        <strong data-testid="failures" class={stale ? 'bad' : 'good'}>{formatNumber(pipeline.failuresSinceLastSuccess)}</strong>
      </div>
    </div>
  );
}

export function EtlRuns({ params }: { params: Record<string, string> }) {
  const status = STATUSES.find((known) => known === params.status);
  const state = useAsync(() => api.etlRuns({ limit: 50, cursor: params.cursor, status }), [params.cursor, status]);
  return (
    <section aria-labelledby="etl-runs-title">
      <p><a href={href('/operations')}>← Operations</a></p>
      <h2 id="etl-runs-title">ETL runs</h2>
      <p class="muted">The analytics pipeline counts every tenant's new rows in one run; rows read and quarantined are your rows
        (with the admin key: every tenant's, with the rows written), refused rows with their reason (the run then loads nothing and the next one skips them).</p>
      <form class="toolbar" onSubmit={(event) => {
        event.preventDefault();
        navigate('/etl-runs', { status: field(new FormData(event.currentTarget), 'status') });
      }}>
        <label>Status <select name="status" value={status ?? ''}>
          <option value="">any</option>{STATUSES.map((known) => <option value={known}>{known}</option>)}
        </select></label>
        <button type="submit">Apply</button>
      </form>
      <Async state={state} what="ETL runs">
        {(page) => (
          <>
            <Freshness pipeline={page.pipeline} />
            <Table caption="ETL runs, newest first" rows={page.data} empty="No run yet: run npx strata etl run (the server also runs it every few minutes)."
              columns={[
                { label: 'Run', cell: (run) => <a href={href(`/etl-runs/${run.id}`)}>#{run.id}</a> },
                { label: 'Status', cell: (run) => <Status run={run} /> },
                { label: 'Mode', cell: (run) => run.mode },
                { label: 'Started', cell: (run) => formatTime(run.startedAt) },
                { label: 'Duration', numeric: true, cell: (run) => (run.durationMs === null ? 'running' : formatDuration(run.durationMs)) },
                { label: 'Read', numeric: true, cell: (run) => formatNumber(run.rowsRead) },
                { label: 'Written', numeric: true, cell: (run) => { const written = rowsWritten(run); return written === undefined ? '–' : formatNumber(written); } },
                { label: 'Quarantined (yours)', cell: (run) => <Reasons run={run} /> },
                { label: 'Error', cell: (run) => run.error ?? '' },
              ]} />
            <Pager nextCursor={page.nextCursor} cursor={params.cursor} go={(cursor) => navigate('/etl-runs', { ...params, cursor })} />
          </>
        )}
      </Async>
    </section>
  );
}

export function EtlRunDetail({ id }: { id: number }) {
  const state = useAsync(() => api.etlRun(id), [id]);
  return (
    <section aria-labelledby="etl-run-title">
      <p><a href={href('/etl-runs')}>← ETL runs</a></p>
      <Async state={state} what="the run">
        {({ data: run }) => (
          <>
            <h2 id="etl-run-title">ETL run #{run.id} <Status run={run} /></h2>
            <dl class="properties">
              <div><dt>Mode</dt><dd>{run.mode}</dd></div>
              <div><dt>Started</dt><dd>{formatTime(run.startedAt)}</dd></div>
              <div><dt>Finished</dt><dd>{run.finishedAt ? formatTime(run.finishedAt) : 'still running'}</dd></div>
              <div><dt>Duration</dt><dd data-testid="duration">{run.durationMs === null ? '–' : formatDuration(run.durationMs)}</dd></div>
              <div><dt>Rows read ({rowsWritten(run) === undefined ? 'your rows' : 'all tenants'})</dt><dd data-testid="rows-read">{formatNumber(run.rowsRead)}</dd></div>
              {rowsWritten(run) !== undefined && <div><dt>Rows written (all tenants)</dt><dd data-testid="rows-written">{formatNumber(rowsWritten(run)!)}</dd></div>}
              <div><dt>Error</dt><dd>{run.error ?? 'none'}</dd></div>
            </dl>
            <h3>Your quarantined rows ({formatNumber(run.quarantined.rows)})</h3>
            <Table caption="quarantined rows with their reasons" rows={run.quarantinedRows ?? []}
              empty="None of this tenant's rows were refused by this run."
              columns={[
                { label: 'Source', cell: (row) => row.source },
                { label: 'Row id', numeric: true, cell: (row) => row.sourceId },
                { label: 'Reason', cell: (row) => row.reason },
                { label: 'Row as read', cell: (row) => <code class="json">{JSON.stringify(row.row)}</code> },
              ]} />
            {run.quarantined.rows > 0 && (
              <p class="muted">Later runs skip these rows. After repairing them, <code>npx strata etl backfill --from DAY --to DAY</code> rebuilds their days.</p>
            )}
          </>
        )}
      </Async>
    </section>
  );
}
