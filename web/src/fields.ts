/**
 * A form field's text. FormData.get() answers a string, a File (an `<input type="file">`) or null
 * (no such field); the dashboard's forms have no file input, so anything but a string reads as ''.
 */
export function field(form: FormData, name: string): string {
  const value = form.get(name);
  return typeof value === 'string' ? value : '';
}

/**
 * A DOM event handler that runs async work. The browser ignores a handler's return value, so a
 * rejected promise would be dropped: its failure goes to `onError` (the view shows it) instead.
 */
export function handled<E>(work: (event: E) => Promise<void>, onError: (failure: unknown) => void): (event: E) => void {
  return (event) => { work(event).catch(onError); };
}
