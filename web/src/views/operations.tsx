import { api, type PromMetric } from '../api';
import { href } from '../router';
import { Freshness } from './etl-runs';
import { Async, formatNumber, formatPercent, Table, useAsync } from '../ui';

const LAYERS = ['session', 'query', 'response', 'etag'] as const;
const EVENTS = ['hits', 'misses', 'sets', 'invalidations', 'errors'] as const;

export interface LayerRow { layer: string; backend: string; hits: number; misses: number; sets: number; invalidations: number; errors: number }

/** The per-layer cache counters out of prom-client's JSON (what `strata cache stats` prints). */
export function cacheLayers(metrics: PromMetric[]): LayerRow[] {
  return LAYERS.map((layer) => {
    const row: LayerRow = { layer, backend: '–', hits: 0, misses: 0, sets: 0, invalidations: 0, errors: 0 };
    for (const event of EVENTS) {
      const sample = metrics.find((metric) => metric.name === `strata_cache_${event}_total`)?.values.find((value) => value.labels.layer === layer);
      if (sample) { row[event] = sample.value; row.backend = String(sample.labels.backend ?? row.backend); }
    }
    return row;
  });
}

function HealthPanel() {
  const state = useAsync(() => Promise.all([api.health(), api.ready()]), []);
  return (
    <Async state={state} what="health">
      {([health, ready]) => (
        <div class="cards">
          <div class="card"><span class="card-label">Liveness (/health)</span><strong class={health.status === 'ok' ? 'good' : 'bad'}>{health.status}</strong></div>
          <div class="card"><span class="card-label">Readiness (/ready)</span><strong class={ready.ok ? 'good' : 'bad'}>{ready.ok ? 'ready' : 'not ready'}</strong></div>
          {Object.entries(health.checks).map(([name, status]) => (
            <div class="card"><span class="card-label">{name}</span><strong class={status === 'up' ? 'good' : 'bad'}>{status}</strong></div>
          ))}
        </div>
      )}
    </Async>
  );
}

function CachePanel() {
  const state = useAsync(() => api.promMetrics(), []);
  return (
    <Async state={state} what="cache counters">
      {(metrics) => (
        <Table caption="cache hit rates per layer" rows={cacheLayers(metrics)} empty="No cache counter yet."
          columns={[
            { label: 'Layer', cell: (row) => row.layer },
            { label: 'Backend', cell: (row) => row.backend },
            { label: 'Hit rate', numeric: true, cell: (row) => (row.hits + row.misses === 0 ? '–' : formatPercent(row.hits / (row.hits + row.misses))) },
            { label: 'Hits', numeric: true, cell: (row) => formatNumber(row.hits) },
            { label: 'Misses', numeric: true, cell: (row) => formatNumber(row.misses) },
            { label: 'Invalidations', numeric: true, cell: (row) => formatNumber(row.invalidations) },
            { label: 'Errors', numeric: true, cell: (row) => formatNumber(row.errors) },
          ]} />
      )}
    </Async>
  );
}

/** This tenant's own lookups on the instance that answered; the admin key sees the whole instance. */
function TenantCachePanel() {
  const state = useAsync(() => api.tenantCacheStats(), []);
  return (
    <Async state={state} what="cache counters">
      {({ data, backend }) => (
        <>
          <p class="muted">{backend === 'none' ? 'Caching is off on this server: every read goes to the database.'
            : `Your keys' lookups on this server since it started (${backend} cache); the admin key sees every tenant's.`}</p>
          <Table caption="your cache hit rates per layer" rows={data} empty="No cache counter yet."
            columns={[
              { label: 'Layer', cell: (row) => row.layer },
              { label: 'Hit rate', numeric: true, cell: (row) => (row.hitRate === null ? '–' : formatPercent(row.hitRate)) },
              { label: 'Hits', numeric: true, cell: (row) => formatNumber(row.hits) },
              { label: 'Misses', numeric: true, cell: (row) => formatNumber(row.misses) },
              { label: 'Stored', numeric: true, cell: (row) => formatNumber(row.sets) },
            ]} />
        </>
      )}
    </Async>
  );
}

function PipelinePanel() {
  const state = useAsync(() => api.etlRuns({ limit: 1 }), []);
  return (
    <Async state={state} what="the pipeline's state">
      {(page) => (
        <>
          <Freshness pipeline={page.pipeline} />
          <p>Every analytics number carries the ETL runs that computed it (“Lineage” under each chart). <a href={href('/etl-runs')}>All ETL runs</a>: status, duration, rows, failures and your quarantined rows with their reasons.</p>
        </>
      )}
    </Async>
  );
}

export function Operations({ admin }: { admin: boolean }) {
  return (
    <section aria-labelledby="operations-title">
      <h2 id="operations-title">Operations</h2>
      <h3>Health</h3>
      <HealthPanel />
      <h3>Caches</h3>
      {admin ? <CachePanel /> : <TenantCachePanel />}
      <h3>Analytics pipeline</h3>
      {admin
        ? <p>Run history, lag, failures and quarantined rows: <code>npx strata etl status</code>, or this page signed in with a tenant key; placement and indexes: <code>npx strata doctor</code>.</p>
        : <PipelinePanel />}
    </section>
  );
}
