import { useRef, useState } from 'preact/hooks';
import { api, type User, type UserWithSettings } from '../api';
import { DeleteStep, EditForm, optionalText, redrawSaved, text, useSubmit, useWritable } from '../forms';
import { navigate } from '../router';
import { field } from '../fields';
import { PagedTable } from '../table';
import { Async, formatTime, useAsync } from '../ui';
import { HistoryList } from './history';
import { ActivityTable } from './activity';

function AccountFields({ user }: { user?: User }) {
  return (
    <>
      <label>Email <input name="email" type="email" defaultValue={user?.email} required autocomplete="off" /></label>
      <label>Username <input name="username" defaultValue={user?.username} required maxLength={150} autocomplete="off" /></label>
      <label class="check"><input type="checkbox" name="isActive" defaultChecked={user ? user.isActive : true} /> Active</label>
    </>
  );
}

const accountBody = (form: FormData) => ({ email: text(form, 'email'), username: text(form, 'username'), isActive: form.get('isActive') === 'on' });

export function Users({ params }: { params: Record<string, string> }) {
  const q = params.q ?? '';
  const state = useAsync(() => api.users({ q: q || undefined, limit: 50, cursor: params.cursor }), [q, params.cursor]);
  const writable = useWritable();
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<User | null>(null);
  const create = useSubmit((form) => {
    const displayName = optionalText(form, 'displayName');
    return api.createUser({ ...accountBody(form), ...(displayName ? { profile: { displayName } } : {}) });
  }, ({ data }) => {
    // Closed rather than reset: opened again, it starts from its defaults (Active ticked).
    setCreating(false);
    setCreated(data);
    state.reload();
  });
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Users</h2>
      <form class="toolbar" role="search" onSubmit={(event) => {
        event.preventDefault();
        navigate('/users', { q: field(new FormData(event.currentTarget), 'q').trim() });
      }}>
        <label>Search <input key={q} type="search" name="q" defaultValue={q} placeholder="username or email" /></label>
        <button type="submit">Search</button>
        {writable && <button type="button" aria-expanded={creating} onClick={() => { setCreating(!creating); setCreated(null); }}>New user</button>}
      </form>
      {writable && creating && (
        <EditForm label="new user" submit={create} action="Create user" busyAction="Creating…">
          <AccountFields />
          <label>Display name <input name="displayName" maxLength={200} /></label>
        </EditForm>
      )}
      {created && <p role="status" class="saved">Created <a href={`#/users/${created.id}`}>{created.username}</a>.</p>}
      <PagedTable state={state} what="users" caption="users" empty={q ? `No user matches “${q}”.` : 'No user yet: create one with “New user” or npx strata seed.'}
        columns={[
          { label: 'Username', cell: (user) => <a href={`#/users/${user.id}`}>{user.username}</a> },
          { label: 'Email', cell: (user) => user.email },
          { label: 'Active', cell: (user) => (user.isActive ? 'yes' : 'no') },
          { label: 'Joined', cell: (user) => formatTime(user.createdAt) },
        ]}
        cursor={params.cursor} go={(cursor) => navigate('/users', { q, cursor })} />
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

/**
 * The settings typed as one JSON object, sent as a merge patch: a key that was there and is gone is
 * sent as null, which removes it (the route merges, it does not replace).
 */
function settingsPatch(before: Record<string, unknown>, typed: string): Record<string, unknown> {
  let after: unknown;
  try {
    after = JSON.parse(typed || '{}');
  } catch (failure) {
    throw new Error(`Settings are not valid JSON: ${(failure as Error).message}`);
  }
  if (typeof after !== 'object' || after === null || Array.isArray(after)) throw new Error('Settings must be one JSON object, like {"theme": "dark"}.');
  const removed = Object.keys(before).filter((key) => !(key in after));
  return { ...Object.fromEntries(removed.map((key) => [key, null])), ...after };
}

function UserForms({ user, changed }: { user: UserWithSettings; changed: (what: string, form: HTMLFormElement) => Promise<void> }) {
  const profile = (user.profile ?? {}) as Record<string, string | null>;
  const settings = (user.settings ?? {}) as Record<string, unknown>;
  const account = useSubmit((form) => api.updateUser(user.id, accountBody(form)), (_, form) => changed('Account saved.', form));
  const profileEdit = useSubmit((form) => api.putProfile(user.id, {
    displayName: optionalText(form, 'displayName'), bio: optionalText(form, 'bio'), avatarUrl: optionalText(form, 'avatarUrl'),
  }), (_, form) => changed('Profile saved.', form));
  // The settings the draft was typed over: a page reload (another form saved) brings newer settings
  // under an open draft, and a key added meanwhile is not one the draft removed.
  const draftBase = useRef<Record<string, unknown> | null>(null);
  const settingsEdit = useSubmit(
    async (form) => api.mergeSettings(user.id, settingsPatch(draftBase.current ?? settings, text(form, 'settings'))),
    async (_, form) => {
      draftBase.current = null;
      await changed('Settings saved.', form);
    },
  );
  return (
    <div class="grid">
      <EditForm label="edit account" submit={account} action="Save account">
        <h3>Account</h3>
        <AccountFields user={user} />
      </EditForm>
      <EditForm label="edit profile" submit={profileEdit} action="Save profile">
        <h3>Profile</h3>
        <label>Display name <input name="displayName" defaultValue={profile.displayName ?? ''} maxLength={200} /></label>
        <label>Avatar URL <input name="avatarUrl" type="url" defaultValue={profile.avatarUrl ?? ''} placeholder="https://…" /></label>
        <label class="wide">Bio <textarea name="bio" rows={2} defaultValue={profile.bio ?? ''} /></label>
      </EditForm>
      <EditForm label="edit settings" submit={settingsEdit} action="Save settings">
        <h3>Settings</h3>
        <label class="wide">Settings (JSON) <textarea name="settings" rows={4} spellcheck={false} defaultValue={JSON.stringify(settings, null, 2)}
          onInput={() => { draftBase.current ??= settings; }} /></label>
      </EditForm>
    </div>
  );
}

export function UserDetail({ id }: { id: number }) {
  const state = useAsync(() => api.user(id), [id]);
  const activity = useAsync(() => api.activities({ userId: id, limit: 20 }), [id]);
  const writable = useWritable();
  const [saved, setSaved] = useState('');
  const [round, setRound] = useState(0);
  const changed = async (what: string, form: HTMLFormElement) => {
    await redrawSaved(form, state);
    setSaved(what);
    setRound((n) => n + 1);
  };
  return (
    <section aria-labelledby="user-title">
      <p><a href="#/users">← Users</a></p>
      <Async state={state} what="the user">
        {({ data: user }) => {
          const { profile, settings, ...account } = user as Record<string, unknown>;
          return (
            <>
              <h2 id="user-title">{String(user.username)} <span class="muted">#{user.id}</span></h2>
              {writable ? <UserForms user={user} changed={changed} /> : (
                <div class="grid">
                  <div class="panel"><h3>Account</h3><Properties value={account} /></div>
                  <div class="panel"><h3>Profile</h3><Properties value={profile as Record<string, unknown>} /></div>
                  <div class="panel"><h3>Settings</h3><Properties value={settings as Record<string, unknown>} /></div>
                </div>
              )}
              {saved && <p role="status" class="saved">{saved}</p>}
              {writable && <DeleteStep what="user" name={user.username} consequence="Their profile, settings, memberships and activity go with them."
                remove={() => api.deleteUser(user.id)} done={() => navigate('/users')} />}
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
      <HistoryList key={`u${round}`} entity="user" entityId={id} />
      <h4>Profile</h4>
      <HistoryList key={`p${round}`} entity="profile" entityId={id} />
      <h4>Settings</h4>
      <HistoryList key={`s${round}`} entity="userSettings" entityId={id} />
    </section>
  );
}
