import { api, type Member } from '../api';
import { useSubmit } from '../forms';
import { field } from '../fields';
import { Async, ErrorBox, Table, useAsync } from '../ui';

/**
 * The user a member form names: an id as typed, or the one user whose email (an exact filter of the
 * API) or username (the search, then an exact match) it is.
 */
async function findUserId(typed: string): Promise<number> {
  if (/^\d+$/.test(typed)) return Number(typed);
  const found = typed.includes('@')
    ? (await api.users({ email: typed, limit: 1 })).data
    : (await api.users({ q: typed, limit: 50 })).data.filter((user) => user.username === typed);
  if (found.length === 0) throw new Error(`No user has the ${typed.includes('@') ? 'email' : 'username'} “${typed}”.`);
  return found[0]!.id;
}

/** A team's or a project's members, with a form to add one (or change a role) and a button to remove one. */
export function Members({ of, load, roles, defaultRole, put, remove, history, writable }: {
  of: string;
  load: () => Promise<{ data: Member[] }>;
  roles: readonly string[];
  defaultRole: string;
  put: (userId: number, role: string) => Promise<unknown>;
  remove: (userId: number) => Promise<unknown>;
  history?: (member: Member) => string;
  writable: boolean;
}) {
  const state = useAsync(load, [of]);
  const add = useSubmit(async (form) => put(await findUserId(field(form, 'user').trim()), field(form, 'role')), (_, form) => {
    // Only the user is cleared: the chosen role stays for the next one.
    (form.elements.namedItem('user') as HTMLInputElement).value = '';
    state.reload();
  });
  const removal = useSubmit(async (form) => remove(Number(field(form, 'userId'))), () => state.reload());
  const who = (member: Member) => member.username ?? `#${member.userId}`;
  return (
    <>
      <Async state={state} what="members">
        {(page) => <Table caption={`members of ${of}`} rows={page.data} empty="No member."
          columns={[
            { label: 'User', cell: (member) => <a href={`#/users/${member.userId}`}>{who(member)}</a> },
            { label: 'Email', cell: (member) => member.email ?? '' },
            { label: 'Role', cell: (member) => member.role },
            ...(history ? [{ label: 'History', cell: (member: Member) => <a href={history(member)} aria-label={`changes of ${who(member)} in ${of}`}>changes</a> }] : []),
            ...(writable ? [{ label: 'Remove', cell: (member: Member) => (
              <form onSubmit={removal.onSubmit} aria-label={`remove ${who(member)}`}>
                <input type="hidden" name="userId" value={member.userId} />
                <button type="submit" disabled={removal.busy} aria-label={`Remove ${who(member)} from ${of}`}>Remove</button>
              </form>
            ) }] : []),
          ]} />}
      </Async>
      {removal.error ? <ErrorBox error={removal.error} /> : null}
      {writable && (
        <form class="form add-member" aria-label={`add member to ${of}`} onSubmit={add.onSubmit}>
          <label>User <input name="user" required placeholder="email, username or id" autocomplete="off" /></label>
          <label>Role <select name="role">{roles.map((role) => <option value={role} selected={role === defaultRole}>{role}</option>)}</select></label>
          <button type="submit" disabled={add.busy}>{add.busy ? 'Adding…' : 'Add member'}</button>
          {add.error ? <ErrorBox error={add.error} /> : null}
        </form>
      )}
    </>
  );
}
