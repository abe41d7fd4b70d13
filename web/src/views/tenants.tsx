import { useState } from 'preact/hooks';
import { api, type IssuedApiKey } from '../api';
import { navigate } from '../router';
import { field, handled } from '../fields';
import { PagedTable } from '../table';
import { Async, ErrorBox, formatTime, Table, useAsync } from '../ui';

function ShownOnce({ label, secret }: { label: string; secret: string }) {
  return (
    <div class="panel secret" role="status">
      <p>{label}: copy it now, it is not shown again.</p>
      <code data-testid="new-key">{secret}</code>
    </div>
  );
}

export function Tenants({ params }: { params: Record<string, string> }) {
  const state = useAsync(() => api.tenants({ limit: 50, cursor: params.cursor }), [params.cursor]);
  const [created, setCreated] = useState<{ name: string; key: string } | null>(null);
  const [error, setError] = useState<unknown>(null);
  return (
    <section aria-labelledby="tenants-title">
      <h2 id="tenants-title">Tenants</h2>
      <form class="toolbar" aria-label="new tenant" onSubmit={handled(async (event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        setError(null);
        try {
          const { tenant, apiKey } = await api.createTenant({ name: field(form, 'name').trim(), slug: field(form, 'slug').trim() });
          setCreated({ name: tenant.name, key: String(apiKey.key) });
          state.reload();
        } catch (failure) {
          setError(failure);
        }
      }, setError)}>
        <label>Name <input name="name" required /></label>
        <label>Slug <input name="slug" required pattern="[a-z0-9\-]+" /></label>
        <button type="submit">Create tenant</button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
      {created && <ShownOnce label={`First key of ${created.name}`} secret={created.key} />}
      <PagedTable state={state} what="tenants" caption="tenants" empty="No tenant yet: create one above."
        columns={[
          { label: 'Tenant', cell: (row) => <a href={`#/tenants/${row.id}`}>{row.name}</a> },
          { label: 'Slug', cell: (row) => row.slug },
          { label: 'Id', numeric: true, cell: (row) => row.id },
          { label: 'Created', cell: (row) => formatTime(row.createdAt) },
        ]}
        cursor={params.cursor} go={(cursor) => navigate('/tenants', { cursor })} />
    </section>
  );
}

export function TenantDetail({ id }: { id: number }) {
  const keys = useAsync(() => api.tenantKeys(id), [id]);
  const [issued, setIssued] = useState<IssuedApiKey | null>(null);
  const [error, setError] = useState<unknown>(null);
  const act = (work: () => Promise<unknown>) => {
    setError(null);
    work().then(() => keys.reload(), setError);
  };
  return (
    <section aria-labelledby="tenant-title">
      <p><a href="#/tenants">← Tenants</a></p>
      <h2 id="tenant-title">API keys of tenant #{id}</h2>
      <form class="toolbar" aria-label="issue key" onSubmit={(event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        act(async () => setIssued((await api.issueTenantKey(id, { name: field(form, 'name').trim(), readOnly: field(form, 'readOnly') === 'on' })).data));
      }}>
        <label>Key name <input name="name" required /></label>
        <label class="check"><input type="checkbox" name="readOnly" /> Read-only</label>
        <button type="submit">Issue key</button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
      {issued?.key && <ShownOnce label={`Key “${issued.name}”`} secret={issued.key} />}
      <Async state={keys} what="keys">
        {(page) => (
          <Table caption="API keys" rows={page.data} empty="This tenant has no key."
            columns={[
              { label: 'Name', cell: (key) => key.name },
              { label: 'Prefix', cell: (key) => <code>{key.prefix}</code> },
              { label: 'Access', cell: (key) => (key.readOnly ? 'read-only' : 'read-write') },
              { label: 'Last used', cell: (key) => (key.lastUsedAt ? formatTime(key.lastUsedAt) : 'never') },
              { label: 'State', cell: (key) => (key.revokedAt
                ? `revoked ${formatTime(key.revokedAt)}`
                : <button type="button" onClick={() => act(() => api.revokeTenantKey(id, key.id))} aria-label={`Revoke key ${key.name}`}>Revoke</button>) },
            ]} />
        )}
      </Async>
    </section>
  );
}
