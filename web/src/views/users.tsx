import { api } from '../api';
import { navigate } from '../router';
import { Async, formatTime, Pager, Table, useAsync } from '../ui';
import { HistoryList } from './history';
import { ActivityTable } from './activity';

export function Users({ params }: { params: Record<string, string> }) {
  const q = params.q ?? '';
  const state = useAsync(() => api.users({ q: q || undefined, limit: 50, cursor: params.cursor }), [q, params.cursor]);
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form class="toolbar" role="search" onSubmit={(event) => {
        event.preventDefault();
        navigate('/users', { q: String(new FormData(event.currentTarget).get('q')).trim() });
      }}>
        <label>Search <input type="search" name="q" value={q} placeholder="username or email" /></label>
        <button type="submit">Search</button>
      </form>
      <Async state={state} what="users">
        {(page) => (
          <>
            <Table caption="users" rows={page.data} empty={q ? `No user matches “${q}”.` : 'No user yet: create one with POST /v1/users or npx strata seed.'}
              columns={[
                { label: 'Username', cell: (user) => <a href={`#/users/${user.id}`}>{user.username}</a> },
                { label: 'Email', cell: (user) => user.email },
                { label: 'Active', cell: (user) => (user.isActive ? 'yes' : 'no') },
                { label: 'Joined', cell: (user) => formatTime(user.createdAt) },
              ]} />
            <Pager nextCursor={page.nextCursor} cursor={params.cursor} go={(cursor) => navigate('/users', { q, cursor })} />
          </>
        )}
      </Async>
    </section>
  );
}

function Properties({ value }: { value: Record<string, unknown> | null | undefined }) {
  const entries = Object.entries(value ?? {}).filter(([, item]) => item !== null && typeof item !== 'object' || Array.isArray(item));
  const nested = Object.entries(value ?? {}).filter(([, item]) => item !== null && typeof item === 'object' && !Array.isArray(item));
  if (entries.length === 0 && nested.length === 0) return <p class="muted">Nothing set.</p>;
  return (
    <dl class="properties">
      {entries.map(([name, item]) => <div><dt>{name}</dt><dd>{Array.isArray(item) ? item.join(', ') : String(item)}</dd></div>)}
      {nested.map(([name, item]) => <div><dt>{name}</dt><dd><code>{JSON.stringify(item)}</code></dd></div>)}
    </dl>
  );
}

export function UserDetail({ id }: { id: number }) {
  const state = useAsync(() => api.user(id), [id]);
  const activity = useAsync(() => api.activities({ userId: id, limit: 20 }), [id]);
  return (
    <section aria-labelledby="user-title">
      <p><a href="#/users">← Users</a></p>
      <Async state={state} what="the user">
        {({ data: user }) => {
          const { profile, settings, ...account } = user as Record<string, unknown>;
          return (
            <>
              <h2 id="user-title">{String(user.username)} <span class="muted">#{user.id}</span></h2>
              <div class="grid">
                <div class="panel"><h3>Account</h3><Properties value={account} /></div>
                <div class="panel"><h3>Profile</h3><Properties value={profile as Record<string, unknown>} /></div>
                <div class="panel"><h3>Settings</h3><Properties value={settings as Record<string, unknown>} /></div>
              </div>
            </>
          );
        }}
      </Async>
      <h3>Recent activity</h3>
      <Async state={activity} what="activity">
        {(page) => <ActivityTable rows={page.data} empty="No activity recorded for this user." />}
      </Async>
      <p><a href={`#/activity?userId=${id}`}>All of this user's activity →</a></p>
      <h3>Change history</h3>
      <HistoryList entity="user" entityId={id} />
      <h4>Profile</h4>
      <HistoryList entity="profile" entityId={id} />
      <h4>Settings</h4>
      <HistoryList entity="userSettings" entityId={id} />
    </section>
  );
}
