// The grid's body over a list of any length: the scrollbar spans every row (the total once
// counted), only the rows on screen and a few around them are in the DOM, between two spacer
// rows, and they come page by page (grid/windowQueries.ts) — by cursor while scrolling on, by
// offset after a jump; rows not loaded yet show as skeletons.

import { createContext, useContext, useEffect, useLayoutEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { Table } from 'antd';
import type { ColumnsType, TableProps } from 'antd/es/table';
import type { TableRowSelection } from 'antd/es/table/interface';
import { useQueryClient } from '@tanstack/react-query';
import { useI18n } from '../i18n';
import { PAGE_SIZE, type ListOptions, type RecordRow } from './listRequest';
import { cachedPages, useListPages } from './windowQueries';
import {
  contentHeight,
  extentOf,
  isPlaceholder,
  pagesFor,
  rowAt,
  rowsIn,
  shiftWindow,
  windowAt,
  type Geometry,
  type RowWindow,
} from './windowModel';

/** A row's height in the small table (measured once drawn). */
const ROW_HEIGHT = 39;
/** The header's height, taken from the body's. */
const HEADER_HEIGHT = 40;
/** Rows past the window's end whose page is asked for already (by cursor). */
const PREFETCH_ROWS = 40;
/** A page reached by a jump is asked for once the scrollbar rests this long. */
const SETTLE_MS = 90;

interface Spacing {
  top: number;
  bottom: number;
  cols: number;
  topRef: React.RefObject<HTMLTableCellElement>;
  bottomRef: React.RefObject<HTMLTableCellElement>;
}
const SpacingContext = createContext<Spacing | null>(null);

/** True inside the table's body, where the table also draws the column titles (hidden, to
 * measure the columns): a title's test id is the header's alone. */
const InBody = createContext(false);

/** A column's title, with its test id in the header only. */
export function ColumnTitle({ testId, children }: { testId: string; children: ReactNode }) {
  return <span data-testid={useContext(InBody) ? undefined : testId}>{children}</span>;
}

/** The table's body: the drawn rows between a spacer for those above and one for those below. */
function SpacedBody(props: React.HTMLAttributes<HTMLTableSectionElement>) {
  const s = useContext(SpacingContext);
  if (!s) return <tbody {...props} />;
  return (
    <InBody.Provider value>
      <tbody {...props}>
        <tr aria-hidden className="grid-spacer">
          <td ref={s.topRef} colSpan={s.cols} style={{ height: s.top, padding: 0, border: 0 }} />
        </tr>
        {props.children}
        <tr aria-hidden className="grid-spacer">
          <td ref={s.bottomRef} colSpan={s.cols} style={{ height: s.bottom, padding: 0, border: 0 }} />
        </tr>
      </tbody>
    </InBody.Provider>
  );
}

const SKELETON = <span className="grid-skeleton" data-testid="grid-skeleton" />;

export interface WindowTableProps {
  app: string;
  entity: string;
  options: ListOptions;
  /** The counted total (undefined while counting). */
  total: number | null | undefined;
  columns: ColumnsType<RecordRow>;
  scrollX: number;
  /** The height of the table, header included. */
  height: number;
  headerCell: React.ComponentType<React.HTMLAttributes<HTMLTableCellElement>>;
  rowSelection?: TableRowSelection<RecordRow>;
  rowClassName: (r: RecordRow) => string;
  onRow: (r: RecordRow) => React.HTMLAttributes<HTMLElement>;
  onChange: TableProps<RecordRow>['onChange'];
  emptyText: ReactNode;
  /** Called with the error of a page that failed, or null. */
  onError: (e: unknown) => void;
}

export function WindowTable(p: WindowTableProps) {
  const { lang, t } = useI18n();
  const num = (n: number) => n.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US');
  const qc = useQueryClient();
  const { app, entity, options } = p;
  const wrapRef = useRef<HTMLDivElement>(null);
  const topRef = useRef<HTMLTableCellElement>(null);
  const bottomRef = useRef<HTMLTableCellElement>(null);
  const [rowHeight, setRowHeight] = useState(ROW_HEIGHT);
  const viewport = Math.max(80, p.height - HEADER_HEIGHT);

  const [win, setWin] = useState<RowWindow>({ start: 0, end: 0, top: 0 });
  const [settled, setSettled] = useState<RowWindow>(win);
  const winRef = useRef(win);
  useEffect(() => {
    const id = setTimeout(() => setSettled(win), SETTLE_MS);
    return () => clearTimeout(id);
  }, [win]);

  const [, setTick] = useState(0);
  const pages = cachedPages(qc, app, entity, options);
  const extent = extentOf(p.total, pages, PAGE_SIZE);
  const g: Geometry = useMemo(() => ({ extent, rowHeight, viewport }), [extent, rowHeight, viewport]);
  const gRef = useRef(g);
  gRef.current = g;

  // Pages asked for: the first; those of the window that follow a loaded page (by cursor, at
  // once, and the next one a little ahead); and those where the window rests (by offset).
  const ahead = pagesFor(win.start, Math.min(extent, win.end + PREFETCH_ROWS), PAGE_SIZE).filter(
    (k) => k === 0 || pages.has(k) || pages.has(k - 1),
  );
  const resting = pagesFor(settled.start, Math.min(extent, settled.end), PAGE_SIZE);
  const wanted = [...new Set([0, ...ahead, ...resting])].sort((a, b) => a - b);
  const status = useListPages(app, entity, options, wanted);
  useEffect(() => p.onError(status.error), [status.error]); // eslint-disable-line react-hooks/exhaustive-deps

  const total = contentHeight(g);
  const apply = (w: RowWindow) => {
    winRef.current = w;
    if (topRef.current) topRef.current.style.height = `${w.top}px`;
    if (bottomRef.current) {
      bottomRef.current.style.height = `${Math.max(0, total - w.top - (w.end - w.start) * rowHeight)}px`;
    }
  };

  const body = () => wrapRef.current?.querySelector<HTMLDivElement>('.ant-table-body') ?? null;

  // A new list starts at its top.
  const optionsKey = JSON.stringify(options);
  useLayoutEffect(() => {
    const el = body();
    if (el) el.scrollTop = 0;
  }, [optionsKey]);

  // The window follows the scroll position and the geometry.
  useLayoutEffect(() => {
    const el = body();
    const w = windowAt(el?.scrollTop ?? 0, g);
    winRef.current = w;
    setWin(w);
  }, [g, optionsKey]); // eslint-disable-line react-hooks/exhaustive-deps
  useEffect(() => {
    const el = body();
    if (!el) return;
    const onScroll = () => {
      const shifted = shiftWindow(winRef.current, el.scrollTop, gRef.current);
      if (shifted) {
        if (shifted.top !== winRef.current.top) apply(shifted);
        return;
      }
      const w = windowAt(el.scrollTop, gRef.current);
      winRef.current = w;
      setWin(w);
    };
    el.addEventListener('scroll', onScroll, { passive: true });
    return () => el.removeEventListener('scroll', onScroll);
  });

  // Re-read the cache when a page arrives.
  useEffect(() => setTick((n) => n + 1), [status.stamp]);

  // The rows drawn; while a new list's first page loads, the old rows stay under a spinner.
  const firstLoading = !pages.has(0) && extent === 0 && !status.error;
  const lastRows = useRef<RecordRow[]>([]);
  const rows = useMemo(
    () => (firstLoading ? lastRows.current : rowsIn(win.start, Math.min(win.end, extent), pages, PAGE_SIZE)),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [firstLoading, win.start, win.end, extent, status.stamp, optionsKey],
  );
  if (!firstLoading) lastRows.current = rows;

  // Rows have the height the CSS gives them; measured once drawn, in case a theme changes it
  // (once: measuring forces a layout, which scrolling should not pay for).
  const measured = useRef(false);
  useLayoutEffect(() => {
    if (measured.current) return;
    const tr = wrapRef.current?.querySelector<HTMLElement>('.ant-table-tbody tr.ant-table-row');
    const h = tr?.getBoundingClientRect().height;
    if (!h) return;
    measured.current = true;
    if (h > 10 && Math.abs(h - rowHeight) > 0.5) setRowHeight(h);
  });

  const columns = useMemo(
    () =>
      p.columns.map((c) => ({
        ...c,
        onCell: (r: RecordRow, i?: number) =>
          isPlaceholder(r) ? {} : (c.onCell?.(r, i) ?? {}),
        render: (v: unknown, r: RecordRow, i: number) =>
          isPlaceholder(r) ? SKELETON : c.render ? c.render(v, r, i) : (v as ReactNode),
      })),
    [p.columns],
  );
  const rowSelection = useMemo(
    () =>
      p.rowSelection && {
        ...p.rowSelection,
        preserveSelectedRowKeys: true,
        getCheckboxProps: (r: RecordRow) =>
          isPlaceholder(r) ? { disabled: true } : (p.rowSelection?.getCheckboxProps?.(r) ?? {}),
      },
    [p.rowSelection],
  );

  const components = useMemo(() => ({ header: { cell: p.headerCell }, body: { wrapper: SpacedBody } }), [p.headerCell]);
  const drawn = firstLoading ? 0 : rows.length;
  const spacing: Spacing = {
    top: firstLoading ? 0 : win.top,
    bottom: firstLoading ? 0 : Math.max(0, total - win.top - drawn * rowHeight),
    cols: p.columns.length + (p.rowSelection ? 1 : 0),
    topRef,
    bottomRef,
  };
  const first = Math.floor(rowAt(body()?.scrollTop ?? 0, g));
  const onScreen = Math.min(extent, first + Math.floor(viewport / rowHeight));

  return (
    <div ref={wrapRef} className="grid-window" data-testid="grid-window" data-extent={extent} data-window={`${win.start}-${win.end}@${win.top}`}>
      <SpacingContext.Provider value={spacing}>
        <Table<RecordRow>
          size="small"
          rowKey="id"
          data-testid="grid"
          className="grid-table"
          columns={columns}
          components={components}
          dataSource={rows}
          loading={firstLoading && status.fetching}
          pagination={false}
          scroll={{ x: p.scrollX, y: viewport }}
          showSorterTooltip={false}
          rowSelection={rowSelection || undefined}
          rowClassName={(r) => (isPlaceholder(r) ? 'grid-row-placeholder' : p.rowClassName(r))}
          locale={{ emptyText: p.emptyText }}
          onChange={p.onChange}
          onRow={(r) =>
            isPlaceholder(r)
              ? ({ 'data-placeholder': 'true' } as React.HTMLAttributes<HTMLElement>)
              : p.onRow(r)
          }
        />
      </SpacingContext.Provider>
      {extent > 0 && first > 0 && (
        <div className="grid-position" data-testid="grid-position">
          {t('grid.position', { from: num(first + 1), to: num(onScreen), n: num(extent) })}
        </div>
      )}
      {status.fetching && pages.size > 0 && (
        <div className="grid-more" data-testid="grid-loading-more">
          {t('grid.loadingMore')}
        </div>
      )}
    </div>
  );
}
