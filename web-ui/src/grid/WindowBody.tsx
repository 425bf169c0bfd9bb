// The rows of the windowed grid (grid/WindowTable.tsx), drawn by the grid itself inside antd's
// table: antd draws the header, the scrolling body and its measure row, and is not rendered
// again when the window moves (its table re-renders every row whenever it renders). Each row is
// a memoised component keyed by its record's id: moving the window mounts the rows that come
// into it and unmounts those that leave it, the others keep their cells; a row renders again
// only when its record, its columns, its class or its selection changed. The markup and class
// names are antd's (`ant-table-row`, `ant-table-cell`, `ant-table-selection-column`, …), so the
// rows look and behave as antd's.

import { createContext, memo, useContext, type HTMLAttributes, type Key, type ReactNode, type RefObject } from 'react';
import { Checkbox } from 'antd';
import type { ColumnType } from 'antd/es/table';
import { useI18n } from '../i18n';
import type { RecordRow } from './listRequest';
import { isPlaceholder } from './windowModel';

/** True inside the table's body, where the table also draws the column titles (hidden, to
 * measure the columns): a title's test id is the header's alone. */
export const InBody = createContext(false);

/** A column's title, with its test id in the header only. */
export function ColumnTitle({ testId, children }: { testId: string; children: ReactNode }) {
  return <span data-testid={useContext(InBody) ? undefined : testId}>{children}</span>;
}

function cx(...names: (string | false | null | undefined)[]): string {
  return names.filter(Boolean).join(' ');
}

/** A column as the rows draw it: antd's column with its cell classes worked out once. */
export interface BodyColumn {
  key: Key;
  dataIndex?: string | number | readonly (string | number)[];
  className: string;
  align?: ColumnType<RecordRow>['align'];
  ellipsis: boolean;
  render?: ColumnType<RecordRow>['render'];
  onCell?: ColumnType<RecordRow>['onCell'];
}

/** The cells' classes as antd's table gives them (an ellipsis, a sorted column). */
export function bodyColumns(columns: readonly ColumnType<RecordRow>[]): BodyColumn[] {
  return columns.map((c, i) => ({
    key: c.key ?? (typeof c.dataIndex === 'string' ? c.dataIndex : i),
    dataIndex: c.dataIndex as BodyColumn['dataIndex'],
    className: cx('ant-table-cell', c.className, !!c.ellipsis && 'ant-table-cell-ellipsis', !!c.sortOrder && 'ant-table-column-sort'),
    align: c.align,
    ellipsis: !!c.ellipsis,
    render: c.render,
    onCell: c.onCell,
  }));
}

function valueAt(r: RecordRow, path: BodyColumn['dataIndex']): unknown {
  if (path === undefined || path === null || path === '') return undefined;
  let v: unknown = r;
  for (const k of Array.isArray(path) ? path : [path]) v = v == null ? undefined : (v as Record<string | number, unknown>)[k];
  return v;
}

/** The title antd gives an ellipsed cell: its text, when the cell is a text. */
function titleOf(node: ReactNode): string | undefined {
  if (typeof node === 'string' || typeof node === 'number') return String(node);
  if (node && typeof node === 'object' && 'props' in node) {
    const c = (node.props as { children?: unknown }).children;
    if (typeof c === 'string') return c;
  }
  return undefined;
}

/** What a row's checkbox does (one object for the table's life: rows keep their cells). */
export interface RowSelect {
  /** antd's style class (its theme's hash) for the checkboxes. */
  hashId: string;
  /** The checkbox's own attributes (aria-label, test id). */
  checkboxProps: (r: RecordRow) => Record<string, unknown>;
  /** A row's checkbox clicked; `shift` extends from the last one clicked. */
  toggle: (r: RecordRow, index: number, checked: boolean, shift: boolean) => void;
  /** The header's checkbox: every loaded row drawn. */
  toggleShown: (checked: boolean) => void;
}

const SKELETON = <span className="grid-skeleton" data-testid="grid-skeleton" />;
const stop = (e: React.MouseEvent) => e.stopPropagation();

interface RowProps {
  record: RecordRow;
  /** The row's place in the whole list. */
  index: number;
  columns: readonly BodyColumn[];
  className: string;
  select: RowSelect | null;
  selected: boolean;
}

/** Two rows draw the same: the same record at the same place, or two skeletons. */
function sameRow(a: RowProps, b: RowProps): boolean {
  const same = a.record === b.record ? a.index === b.index : isPlaceholder(a.record) && isPlaceholder(b.record);
  return same && a.columns === b.columns && a.className === b.className && a.select === b.select && a.selected === b.selected;
}

const Row = memo(function Row({ record, index, columns, className, select, selected }: RowProps) {
  const placeholder = isPlaceholder(record);
  return (
    <tr
      className={cx('ant-table-row ant-table-row-level-0', selected && 'ant-table-row-selected', className)}
      data-row-key={placeholder ? undefined : record.id}
      data-row-id={placeholder ? undefined : record.id}
      data-placeholder={placeholder ? 'true' : undefined}
    >
      {select && (
        <td className="ant-table-cell ant-table-selection-column">
          {/* antd's checkbox as it draws it (its styles come with the header's), without its
              per-instance cost: a grid mounts rows all the time while it scrolls. */}
          <label
            className={cx('ant-checkbox-wrapper', selected && 'ant-checkbox-wrapper-checked', placeholder && 'ant-checkbox-wrapper-disabled', select.hashId)}
            onClick={stop}
          >
            <span className={cx('ant-checkbox ant-wave-target', select.hashId, selected && 'ant-checkbox-checked', placeholder && 'ant-checkbox-disabled')}>
              <input
                {...(placeholder ? {} : select.checkboxProps(record))}
                className="ant-checkbox-input"
                type="checkbox"
                checked={selected}
                disabled={placeholder}
                onChange={(e) => select.toggle(record, index, e.target.checked, (e.nativeEvent as MouseEvent).shiftKey)}
              />
              <span className="ant-checkbox-inner" />
            </span>
          </label>
        </td>
      )}
      {columns.map((c) => {
        if (placeholder) {
          return (
            <td key={c.key} className={c.className} style={c.align ? { textAlign: c.align } : undefined}>
              {SKELETON}
            </td>
          );
        }
        const value = valueAt(record, c.dataIndex);
        const child = (c.render ? c.render(value, record, index) : value) as ReactNode;
        const extra = (c.onCell?.(record, index) ?? {}) as HTMLAttributes<HTMLTableCellElement>;
        return (
          <td
            key={c.key}
            {...extra}
            className={cx(c.className, extra.className)}
            style={c.align || extra.style ? { textAlign: c.align, ...extra.style } : undefined}
            title={extra.title ?? (c.ellipsis ? titleOf(child) : undefined)}
          >
            {child}
          </td>
        );
      })}
    </tr>
  );
}, sameRow);

/** What the body draws, from the window (grid/WindowTable.tsx). */
export interface BodyModel {
  /** antd's own body (its empty state) rather than the window's rows. */
  native: boolean;
  rows: readonly RecordRow[];
  /** The place of `rows[0]` in the list. */
  start: number;
  /** The spacers' heights: the rows above and below those drawn. */
  top: number;
  bottom: number;
  /** The columns a spacer spans. */
  span: number;
  columns: readonly BodyColumn[];
  rowClassName: (r: RecordRow) => string;
  select: RowSelect | null;
  selected: ReadonlySet<Key>;
  topRef: RefObject<HTMLTableCellElement>;
  bottomRef: RefObject<HTMLTableCellElement>;
  onClick: (e: React.MouseEvent<HTMLTableSectionElement>) => void;
}

export const BodyContext = createContext<BodyModel | null>(null);

/** antd's body wrapper: the drawn rows between a spacer for those above and one for those below. */
export function WindowBody(props: HTMLAttributes<HTMLTableSectionElement>) {
  const m = useContext(BodyContext);
  if (!m || m.native) {
    return (
      <InBody.Provider value>
        <tbody {...props} />
      </InBody.Provider>
    );
  }
  // antd gives its measure row first (the columns' widths, for the header), then its own rows
  // (of a stand-in record), which are not drawn.
  const measure = Array.isArray(props.children) ? (props.children[0] as ReactNode) : null;
  return (
    <InBody.Provider value>
      <tbody className={props.className} onClick={m.onClick}>
        {measure}
        <tr aria-hidden className="grid-spacer">
          <td ref={m.topRef} colSpan={m.span} style={{ height: m.top, padding: 0, border: 0 }} />
        </tr>
        {m.rows.map((r, i) => {
          const placeholder = isPlaceholder(r);
          return (
            <Row
              // A skeleton is keyed by its slot in the window, so that after a jump the same
              // skeletons are drawn again (moved), not unmounted and mounted anew.
              key={placeholder ? `\u0000slot-${(m.start + i) % m.rows.length}` : r.id}
              record={r}
              index={m.start + i}
              columns={m.columns}
              className={placeholder ? 'grid-row-placeholder' : m.rowClassName(r)}
              select={m.select}
              selected={!placeholder && m.selected.has(r.id)}
            />
          );
        })}
        <tr aria-hidden className="grid-spacer">
          <td ref={m.bottomRef} colSpan={m.span} style={{ height: m.bottom, padding: 0, border: 0 }} />
        </tr>
      </tbody>
    </InBody.Provider>
  );
}

/** The header's checkbox: selects (or clears) the loaded rows drawn, as antd's did. */
export function SelectShown() {
  const { t } = useI18n();
  const inBody = useContext(InBody);
  const m = useContext(BodyContext);
  if (inBody || !m?.select) return null;
  const shown = m.native ? [] : m.rows.filter((r) => !isPlaceholder(r));
  const some = shown.some((r) => m.selected.has(r.id));
  const all = shown.length > 0 && shown.every((r) => m.selected.has(r.id));
  const select = m.select;
  return (
    <div className="ant-table-selection">
      <Checkbox
        aria-label={t('bulk.selectShown')}
        data-testid="select-shown"
        checked={all}
        indeterminate={some && !all}
        disabled={shown.length === 0}
        onChange={(e) => select.toggleShown(e.target.checked)}
      />
    </div>
  );
}
