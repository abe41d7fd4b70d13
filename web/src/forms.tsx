import type { ComponentChildren } from 'preact';
import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, session } from './api';
import { field } from './fields';
import { ErrorBox, useAsync } from './ui';

/** Sends a form, shows the API's error as it came (code, message, each bad field); busy while it waits. */
export function useSubmit<T>(send: (form: FormData) => Promise<T>, done: (result: T, form: HTMLFormElement) => void | Promise<void>) {
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // A DOM handler's returned promise would be dropped: this one returns nothing, and every failure
  // (of `send` or of `done`) ends in the error shown beside the form.
  const onSubmit = (event: Event) => {
    event.preventDefault();
    const form = event.currentTarget as HTMLFormElement;
    // Read at once: what is sent is what was typed when the form was submitted.
    const fields = new FormData(form);
    setBusy(true);
    setError(null);
    Promise.resolve()
      .then(() => send(fields))
      .then((result) => done(result, form))
      .catch(setError)
      .finally(() => setBusy(false));
  };
  return { error, busy, onSubmit };
}

export type Submit = ReturnType<typeof useSubmit>;

/**
 * After a form is saved: loads the page's data again and, once it is drawn, puts the saved form
 * back to its fields' defaults, which are now the stored values (trimmed, formatted as the server
 * keeps them). Form fields are uncontrolled (`defaultValue`, `defaultChecked`, `defaultSelected`):
 * a reload changes only their defaults, which the browser shows in a field nobody has typed into,
 * so the other forms of the page keep their drafts and their untouched fields show fresh values.
 */
export async function redrawSaved(form: HTMLFormElement, ...pages: { redraw: () => Promise<void> }[]): Promise<void> {
  await Promise.all(pages.map((page) => page.redraw()));
  form.reset();
}

/** A labelled form with its submit button (disabled while saving) and the API's error beside it. */
export function EditForm({ label, submit, action, busyAction, children, class: extra }: {
  label: string; submit: Submit; action: string; busyAction?: string; children: ComponentChildren; class?: string;
}) {
  return (
    <form class={`panel form${extra ? ` ${extra}` : ''}`} aria-label={label} onSubmit={submit.onSubmit} aria-busy={submit.busy}>
      {children}
      <button type="submit" disabled={submit.busy}>{submit.busy ? (busyAction ?? 'Saving…') : action}</button>
      {submit.error ? <ErrorBox error={submit.error} /> : null}
    </form>
  );
}

/**
 * "Delete …": a button that opens a confirm step, labelled `delete <what>`, saying what goes with
 * the row. Focus moves to the question (a screen reader reads it; Tab reaches the buttons), Escape
 * or Cancel closes it and gives focus back to the button; the API's refusal shows beside it.
 */
export function DeleteStep({ what, name, consequence, remove, done }: {
  what: string; name: string; consequence: string; remove: () => Promise<unknown>; done: () => void | Promise<void>;
}) {
  const [asking, setAsking] = useState(false);
  const question = useRef<HTMLParagraphElement>(null);
  const opener = useRef<HTMLButtonElement>(null);
  const returnFocus = useRef(false);
  const submit = useSubmit(remove, done);
  useLayoutEffect(() => {
    if (asking) question.current?.focus();
    else if (returnFocus.current) opener.current?.focus();
  }, [asking]);
  const close = () => { returnFocus.current = true; setAsking(false); };
  if (!asking) return <p><button type="button" class="danger" ref={opener} onClick={() => setAsking(true)}>Delete {what}…</button></p>;
  return (
    <form class="panel form" aria-label={`delete ${what}`} onSubmit={submit.onSubmit} aria-busy={submit.busy}
      onKeyDown={(event) => { if (event.key === 'Escape') close(); }}>
      <p class="wide" tabIndex={-1} ref={question}>Delete {name}? {consequence} This cannot be undone.</p>
      <button type="submit" class="danger" disabled={submit.busy}>{submit.busy ? 'Deleting…' : `Delete ${name}`}</button>
      <button type="button" onClick={close}>Cancel</button>
      {submit.error ? <ErrorBox error={submit.error} /> : null}
    </form>
  );
}

let readOnly: { key: string; answer: Promise<boolean> } | null = null;

/** What this tab's key may do: `unknown` until the API's list of keys has answered. */
export function useKeyAccess(): 'unknown' | 'read-only' | 'read-write' {
  const key = session.key() ?? '';
  if (readOnly?.key !== key) readOnly = { key, answer: api.keyIsReadOnly().catch(() => false) };
  const { answer } = readOnly;
  const state = useAsync(() => answer, [answer]);
  return state.data === undefined ? 'unknown' : state.data ? 'read-only' : 'read-write';
}

/**
 * Whether this tab's key may change data. The edit controls appear once the answer comes (so a
 * read-only key never sees them flash); if it cannot be had they show, and the API still refuses a
 * read-only key's write with READ_ONLY_KEY, shown beside the form.
 */
export function useWritable(): boolean {
  return useKeyAccess() === 'read-write';
}

/** Says in the header that this key can only look, so missing edit buttons are not a mystery. */
export function ReadOnlyBadge() {
  return useKeyAccess() === 'read-only' ? <span class="badge" data-testid="read-only">read-only key</span> : null;
}

export const text = (form: FormData, name: string) => field(form, name).trim();
/** An emptied optional text field is sent as null (cleared), not as an empty string. */
export const optionalText = (form: FormData, name: string) => text(form, name) || null;
