/**
 * Tables: a table with its caption, its column headers (and an unnamed last column for the rows'
 * actions), in a box that scrolls sideways on narrow screens; and the header row of a table that
 * sorts by the column whose header was pressed (`aria-sort` says which, and which way).
 */
import type { ComponentChildren } from 'preact';

/** The column a table is sorted by, and which way. */
export interface Sort<K extends string> {
  key: K;
  asc: boolean;
}

/**
 * Sortable column headers: pressing one sorts by it (`ascFirst` says which way at first), pressing it
 * again turns the order round.
 */
export function SortableHead<K extends string>({
  columns,
  sort,
  onSort,
  ascFirst,
  unsorted = [],
}: {
  columns: readonly (readonly [K, string])[];
  sort: Sort<K>;
  onSort: (sort: Sort<K>) => void;
  ascFirst: (key: K) => boolean;
  /** Headers of columns after these that do not sort. */
  unsorted?: readonly string[];
}) {
  return (
    <thead>
      <tr>
        {columns.map(([key, label]) => (
          <th key={key} scope="col" aria-sort={sort.key === key ? (sort.asc ? 'ascending' : 'descending') : undefined}>
            <button type="button" class="sort" onClick={() => onSort({ key, asc: sort.key === key ? !sort.asc : ascFirst(key) })}>
              {label}
              <span aria-hidden="true">{sort.key === key ? (sort.asc ? ' ▲' : ' ▼') : ''}</span>
            </button>
          </th>
        ))}
        {unsorted.map((label) => (
          <th key={label} scope="col">
            {label}
          </th>
        ))}
      </tr>
    </thead>
  );
}

/**
 * A table of `children` (its rows) under `columns` (or a `head` of its own, such as SortableHead).
 * `actions` adds the column of the rows' buttons; `hideCaption` keeps the caption for screen readers
 * only, where a heading above already names the table.
 */
export function DataTable({
  caption,
  hideCaption = false,
  columns = [],
  actions = false,
  head,
  scroll = true,
  busy,
  class: className,
  children,
}: {
  caption: ComponentChildren;
  hideCaption?: boolean;
  columns?: readonly string[];
  actions?: boolean;
  head?: ComponentChildren;
  /** In a box that scrolls sideways (false: the table alone). */
  scroll?: boolean;
  /** The box's `aria-busy`, while the rows are read again. */
  busy?: boolean;
  class?: string;
  children: ComponentChildren;
}) {
  const table = (
    <table class={className}>
      <caption class={hideCaption ? 'visually-hidden' : undefined}>{caption}</caption>
      {head ?? (
        <thead>
          <tr>
            {columns.map((c) => (
              <th key={c} scope="col">
                {c}
              </th>
            ))}
            {actions ? (
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            ) : null}
          </tr>
        </thead>
      )}
      <tbody>{children}</tbody>
    </table>
  );
  return scroll ? (
    <div class="table-scroll" aria-busy={busy}>
      {table}
    </div>
  ) : (
    table
  );
}
