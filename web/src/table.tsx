import type { ComponentChildren } from 'preact';
import type { Page } from './api';
import { Async, Pager, Table, type AsyncState, type Column } from './ui';

/**
 * The list views' one skeleton: loading and error of the page request, the table (or what to say
 * when it is empty) and the pager whose cursor lives in the URL.
 */
export function PagedTable<T>({ state, what, caption, columns, empty, cursor, go }: {
  state: AsyncState<Page<T>>;
  what: string;
  caption: string;
  columns: Column<T>[];
  empty: ComponentChildren;
  cursor?: string;
  go: (cursor?: string) => void;
}) {
  return (
    <Async state={state} what={what}>
      {(page) => (
        <>
          <Table caption={caption} rows={page.data} empty={empty} columns={columns} />
          <Pager nextCursor={page.nextCursor} cursor={cursor} go={go} />
        </>
      )}
    </Async>
  );
}
