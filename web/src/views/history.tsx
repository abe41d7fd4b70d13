import { api, StrataApiError, type ApiKey, type HistoryEntry } from '../api';
import { navigate } from '../router';
import { field } from '../fields';
import { Empty, ErrorBox, formatTime, Loading, useAsync } from '../ui';

export const ENTITIES = ['user', 'profile', 'userSettings', 'organization', 'team', 'teamMember', 'project', 'projectMember', 'product', 'inventory', 'apiKey'];

let keyNames: Promise<Map<number, ApiKey>> | null = null;
/** Writes are recorded with the API key that made them: its name is the actor's name. */
function actors(): Promise<Map<number, ApiKey>> {
  keyNames ??= api.apiKeys().then((page) => new Map(page.data.map((key) => [key.id, key])), () => new Map());
  return keyNames;
}

const show = (value: unknown) => (value === undefined ? '–' : value === null ? 'null' : typeof value === 'string' ? value : JSON.stringify(value));

function Entry({ entry, names }: { entry: HistoryEntry; names: Map<number, ApiKey> }) {
  const actor = entry.actorId === null ? 'system (no API key)' : names.get(entry.actorId)?.name
    ? `${names.get(entry.actorId)!.name} (key #${entry.actorId})` : `API key #${entry.actorId}`;
  const changes = entry.action === 'UPDATE' ? entry.changes.filter((item) => entry.changedFields.includes(item.field)) : entry.changes;
  return (
    <li class="history-entry">
      <div><span class={`badge ${entry.action.toLowerCase()}`}>{entry.action === 'INSERT' ? 'created' : entry.action === 'DELETE' ? 'deleted' : 'changed'}</span>{' '}
        <strong>{entry.entity} {entry.entityId}</strong> by {actor}, <time dateTime={entry.createdAt}>{formatTime(entry.createdAt)}</time></div>
      {changes.length > 0 && (
        <dl class="diff">
          {changes.map((item) => (
            <div>
              <dt>{item.field}</dt>
              <dd>{entry.action !== 'INSERT' && <del>{show(item.old)}</del>}{entry.action === 'UPDATE' && ' → '}{entry.action !== 'DELETE' && <ins>{show(item.new)}</ins>}</dd>
            </div>
          ))}
        </dl>
      )}
    </li>
  );
}

/** The change history of one row, newest first, with who made each change. */
export function HistoryList({ entity, entityId }: { entity: string; entityId: string | number }) {
  const state = useAsync(async () => {
    const [page, names] = await Promise.all([
      api.history({ entity, entityId, limit: 50 }).catch((error: unknown) => {
        if (error instanceof StrataApiError && error.code === 'NOT_FOUND') return { data: [], nextCursor: null };
        throw error;
      }),
      actors(),
    ]);
    return { page, names };
  }, [entity, entityId]);
  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} />;
  if (!state.data) return <Loading what="history" />;
  if (state.data.page.data.length === 0) return <Empty>No recorded change to {entity} {entityId}.</Empty>;
  return <ol class="history">{state.data.page.data.map((entry) => <Entry entry={entry} names={state.data!.names} />)}</ol>;
}

export function History({ params }: { params: Record<string, string> }) {
  const entity = ENTITIES.includes(params.entity ?? '') ? params.entity! : 'product';
  const entityId = params.entityId ?? '';
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Change history</h2>
      <p class="muted">Every row's page links here too. Pick a kind of row and its id (a membership is <code>teamId:userId</code>).</p>
      <form class="toolbar" onSubmit={(event) => {
        event.preventDefault();
        const form = new FormData(event.currentTarget);
        navigate('/history', { entity: field(form, 'entity'), entityId: field(form, 'entityId').trim() });
      }}>
        <label>Kind <select name="entity" value={entity}>{ENTITIES.map((name) => <option value={name}>{name}</option>)}</select></label>
        <label>Id <input name="entityId" value={entityId} required pattern="[0-9]+(:[0-9]+)?" inputMode="numeric" /></label>
        <button type="submit">Show history</button>
      </form>
      {entityId ? <HistoryList entity={entity} entityId={entityId} /> : <Empty>Choose a row to see who changed what.</Empty>}
    </section>
  );
}

