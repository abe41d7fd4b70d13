import { render } from 'preact';
import { useState } from 'preact/hooks';
import { api, StrataApiError, session, type KeyKind } from './api';
import { href, navigate, useRoute, type Route } from './router';
import { ErrorBox } from './ui';
import { field, handled } from './fields';
import { ReadOnlyBadge } from './forms';
import { Overview } from './views/overview';
import { Metrics } from './views/metrics';
import { Retention } from './views/retention';
import { Reports, ReportDetail } from './views/reports';
import { Users, UserDetail } from './views/users';
import { Products, ProductDetail } from './views/products';
import { Organizations, OrganizationDetail, Projects, ProjectDetail } from './views/organizations';
import { ActivityFeed } from './views/activity';
import { History } from './views/history';
import { Operations } from './views/operations';
import { EtlRuns, EtlRunDetail } from './views/etl-runs';
import { Tenants, TenantDetail } from './views/tenants';
import './styles.css';

interface NavItem { path: string; label: string }

const TENANT_NAV: NavItem[] = [
  { path: '/overview', label: 'Overview' }, { path: '/metrics', label: 'Metrics' }, { path: '/retention', label: 'Retention' },
  { path: '/reports', label: 'Reports' }, { path: '/users', label: 'Users' }, { path: '/organizations', label: 'Organizations' },
  { path: '/projects', label: 'Projects' }, { path: '/products', label: 'Products' }, { path: '/activity', label: 'Activity' },
  { path: '/history', label: 'Change history' }, { path: '/operations', label: 'Operations' }, { path: '/etl-runs', label: 'ETL runs' },
];
const ADMIN_NAV: NavItem[] = [{ path: '/tenants', label: 'Tenants' }, { path: '/operations', label: 'Operations' }];

function SignIn({ onSignedIn }: { onSignedIn: (kind: KeyKind) => void }) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <h1><img src="/dashboard/favicon.svg" alt="" width={28} height={28} /> Strata</h1>
      <form onSubmit={handled(async (event) => {
        event.preventDefault();
        const key = field(new FormData(event.currentTarget), 'key').trim();
        session.set(key);
        const kind = session.kind()!;
        setBusy(true);
        try {
          await api.checkKey(kind);
          onSignedIn(kind);
        } catch (failure) {
          session.clear();
          setError(failure);
        } finally {
          setBusy(false);
        }
      }, setError)}>
        <label for="key">API key</label>
        <input id="key" name="key" type="password" autocomplete="off" placeholder="strata_1_… or strata_admin_…" required />
        <p class="hint">A tenant key opens that tenant's analytics and data; the admin key opens tenant administration.
          The key stays in this tab only and is forgotten when the tab closes.</p>
        <button type="submit" disabled={busy}>{busy ? 'Checking…' : 'Sign in'}</button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
    </main>
  );
}

function NotFound() {
  return <section><h2>Not found</h2><p>This page does not exist. <a href={href('/')}>Go to the start page</a>.</p></section>;
}

function TenantView({ route }: { route: Route }) {
  const [first, second] = route.segments;
  const id = Number(second);
  switch (first) {
    case undefined: case 'overview': return <Overview params={route.params} />;
    case 'metrics': return <Metrics params={route.params} />;
    case 'retention': return <Retention params={route.params} />;
    case 'reports': return second ? <ReportDetail id={id} /> : <Reports params={route.params} />;
    case 'users': return second ? <UserDetail id={id} /> : <Users params={route.params} />;
    case 'products': return second ? <ProductDetail id={id} /> : <Products params={route.params} />;
    case 'organizations': return second ? <OrganizationDetail id={id} /> : <Organizations params={route.params} />;
    case 'projects': return second ? <ProjectDetail id={id} /> : <Projects params={route.params} />;
    case 'activity': return <ActivityFeed params={route.params} />;
    case 'history': return <History params={route.params} />;
    case 'operations': return <Operations admin={false} />;
    case 'etl-runs': return second ? <EtlRunDetail id={id} /> : <EtlRuns params={route.params} />;
    default: return <NotFound />;
  }
}

function AdminView({ route }: { route: Route }) {
  const [first, second] = route.segments;
  switch (first) {
    case undefined: case 'tenants': return second ? <TenantDetail id={Number(second)} /> : <Tenants params={route.params} />;
    case 'operations': return <Operations admin />;
    default: return <NotFound />;
  }
}

function App() {
  const route = useRoute();
  const [kind, setKind] = useState<KeyKind | null>(session.kind());
  if (!kind) return <SignIn onSignedIn={(signedIn) => { setKind(signedIn); if (route.path === '/') navigate(signedIn === 'admin' ? '/tenants' : '/overview', {}, true); }} />;
  const nav = kind === 'admin' ? ADMIN_NAV : TENANT_NAV;
  const current = `/${route.segments[0] ?? (kind === 'admin' ? 'tenants' : 'overview')}`;
  return (
    <div class="layout">
      <a class="skip" href="#content" onClick={(event) => { event.preventDefault(); document.getElementById('content')?.focus(); }}>Skip to content</a>
      <header>
        <span class="brand"><img src="/dashboard/favicon.svg" alt="" width={22} height={22} /> Strata</span>
        <span class="who">{kind === 'admin' ? 'Administration' : 'Tenant'}</span>
        {kind === 'tenant' && <ReadOnlyBadge />}
        <button type="button" onClick={() => { session.clear(); setKind(null); navigate('/', {}, true); }}>Sign out</button>
      </header>
      <nav class="main-nav" aria-label="views">
        {nav.map((item) => <a href={href(item.path)} aria-current={current === item.path ? 'page' : undefined}>{item.label}</a>)}
      </nav>
      <main id="content" tabIndex={-1}>
        {kind === 'admin' ? <AdminView route={route} /> : <TenantView route={route} />}
      </main>
    </div>
  );
}

window.addEventListener('unhandledrejection', (event) => {
  if (event.reason instanceof StrataApiError && event.reason.code === 'UNAUTHENTICATED') session.clear();
});
const root = document.getElementById('app')!;
root.replaceChildren();
render(<App />, root);
