// The grid's body over a list of any length: the scrollbar spans every row (the total once
// counted), only the rows on screen and a few around them are in the DOM, between two spacer
// rows, and they come page by page (grid/windowQueries.ts) — by cursor while scrolling on, by
// offset after a jump; rows not loaded yet show as skeletons. antd's table draws the header (sort,
// resize, the select-all checkbox) and the scrolling body, and is not rendered again when the
// window moves; the rows are the grid's own (grid/WindowBody.tsx), each keeping its cells while
// it stays in the window.

import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState, type Key, type ReactNode } from 'react';
import { Table, theme } from 'antd';
import type { ColumnsType, TableProps } from 'antd/es/table';
import { useQueryClient } from '@tanstack/react-query';
import { formatNumber, useI18n } from '../i18n';
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
import { BodyContext, bodyColumns, SelectShown, WindowBody, type BodyModel, type RowSelect } from './WindowBody';

export { ColumnTitle } from './WindowBody';

/** A row's height in the small table (measured once drawn). */
const ROW_HEIGHT = 39;
/** The header's height, taken from the body's. */
const HEADER_HEIGHT = 40;
/** antd's `scroll.y`: the body's height comes from the CSS (`--grid-body-h`). */
const BODY_Y = 400;
/** Rows past the window's end whose page is asked for already (by cursor). */
const PREFETCH_ROWS = 40;
/** A page reached by a jump is asked for once the scrollbar rests this long. */
const SETTLE_MS = 90;

/** antd's table is given one stand-in record while the window has rows (it draws the header
 * and the measure row; grid/WindowBody.tsx draws the rows), none for its empty state. */
const STAND_IN: RecordRow[] = [{ id: '\u0000window' }];
const NO_ROWS: RecordRow[] = [];
const SELECT_COLUMN = '\u0000select';

/** antd's table, rendered again only when its own props change (not when the window moves). */
const HeadTable = memo(function HeadTable(props: TableProps<RecordRow>) {
  return <Table<RecordRow> {...props} />;
});

/** The rows selected, by id, and what a click on a checkbox does. */
export interface WindowSelection {
  selected: readonly Key[];
  /** The new selection, and the rows of its ids as last loaded. */
  onChange: (keys: Key[], rows: RecordRow[]) => void;
  /** A row's checkbox attributes (aria-label, test id). */
  checkboxProps?: (r: RecordRow) => Record<string, unknown>;
}

/** The height of the element's parent (the grid's body: the table's, header included), kept
 * current as it resizes. Measured here, so a change renders the window alone. */
function useContainerHeight(ref: React.RefObject<HTMLElement | null>): number {
  const [h, setH] = useState(400);
  useLayoutEffect(() => {
    const el = ref.current?.parentElement;
    if (!el) return;
    const update = () => setH(Math.max(160, Math.floor(el.getBoundingClientRect().height)));
    update();
    if (typeof ResizeObserver === 'undefined') return;
    const ro = new ResizeObserver(update);
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return h;
}

/** A function that stays the same while calling the latest one given. */
function useLatest<A extends unknown[], R>(f: (...a: A) => R): (...a: A) => R {
  const ref = useRef(f);
  ref.current = f;
  return useCallback((...a: A) => ref.current(...a), []);
}

export interface WindowTableProps {
  app: string;
  entity: string;
  options: ListOptions;
  /** The counted total (undefined while counting). */
  total: number | null | undefined;
  columns: ColumnsType<RecordRow>;
  scrollX: number;
  headerCell: React.ComponentType<React.HTMLAttributes<HTMLTableCellElement>>;
  /** Checkboxes on the rows (none without). */
  selection?: WindowSelection;
  rowClassName: (r: RecordRow) => string;
  /** A click on a loaded row (`row` is its `tr`; links and checkboxes in it keep their clicks). */
  onRowClick: (r: RecordRow, e: React.MouseEvent<HTMLElement>, row: HTMLElement) => void;
  onChange: TableProps<RecordRow>['onChange'];
  emptyText: ReactNode;
  /** Called with the error of a page that failed, or null. */
  onError: (e: unknown) => void;
}

export function WindowTable(p: WindowTableProps) {
  const { lang, t } = useI18n();
  const num = (n: number) => formatNumber(n, lang);
  const { hashId } = theme.useToken();
  const qc = useQueryClient();
  const { app, entity, options } = p;
  const wrapRef = useRef<HTMLDivElement>(null);
  const topRef = useRef<HTMLTableCellElement>(null);
  const bottomRef = useRef<HTMLTableCellElement>(null);
  const [rowHeight, setRowHeight] = useState(ROW_HEIGHT);
  const height = useContainerHeight(wrapRef);
  const viewport = Math.max(80, height - HEADER_HEIGHT);

  const [, setTick] = useState(0);
  const pages = cachedPages(qc, app, entity, options);
  const extent = extentOf(p.total, pages, PAGE_SIZE);
  const g: Geometry = useMemo(() => ({ extent, rowHeight, viewport }), [extent, rowHeight, viewport]);
  const gRef = useRef(g);
  gRef.current = g;

  // The rows drawn: at the top at first (with the first page already loaded, the first render
  // draws its rows), then wherever the scroll position takes the window.
  const [win, setWin] = useState<RowWindow>(() => windowAt(0, g));
  const [settled, setSettled] = useState<RowWindow>(win);
  const winRef = useRef(win);
  useEffect(() => {
    const id = setTimeout(() => setSettled(win), SETTLE_MS);
    return () => clearTimeout(id);
  }, [win]);
  const moveTo = (w: RowWindow) => {
    winRef.current = w;
    setWin((prev) => (prev.start === w.start && prev.end === w.end && prev.top === w.top ? prev : w));
  };

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
    moveTo(windowAt(el?.scrollTop ?? 0, g));
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
      moveTo(windowAt(el.scrollTop, gRef.current));
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

  // The selection: the rows of the selected ids as last seen (a selected row may be far from
  // those drawn), a click with shift extending from the row clicked last.
  const sel = p.selection;
  const selected = useMemo(() => new Set<Key>(sel?.selected ?? []), [sel?.selected]);
  const seen = useRef(new Map<Key, RecordRow>());
  const lastClicked = useRef<number | null>(null);
  // What the handlers read when they run (set at each render, below).
  const latest = useRef({ sel, selected, rows: [] as readonly RecordRow[], loaded: () => pages });
  const setSelected = useLatest((ids: Set<Key>) => {
    const s = latest.current.sel;
    if (!s) return;
    const keys = [...ids];
    for (const k of seen.current.keys()) if (!ids.has(k)) seen.current.delete(k);
    s.onChange(keys, keys.flatMap((k) => seen.current.get(k) ?? []));
  });
  const hasSelection = !!sel;
  const select: RowSelect | null = useMemo(
    () =>
      hasSelection
        ? {
            hashId,
            checkboxProps: (r) => latest.current.sel?.checkboxProps?.(r) ?? {},
            toggle: (r, index, checked, shift) => {
              const ids = new Set(latest.current.selected);
              const from = lastClicked.current;
              const range: RecordRow[] = [r];
              if (shift && from !== null && from !== index) {
                const loaded = latest.current.loaded();
                const [a, b] = from < index ? [from, index] : [index, from];
                for (const x of rowsIn(a, b + 1, loaded, PAGE_SIZE)) if (!isPlaceholder(x)) range.push(x);
              }
              lastClicked.current = index;
              for (const x of range) {
                if (checked) {
                  ids.add(x.id);
                  seen.current.set(x.id, x);
                } else ids.delete(x.id);
              }
              setSelected(ids);
            },
            toggleShown: (checked) => {
              const ids = new Set(latest.current.selected);
              for (const x of latest.current.rows) {
                if (isPlaceholder(x)) continue;
                if (checked) {
                  ids.add(x.id);
                  seen.current.set(x.id, x);
                } else ids.delete(x.id);
              }
              setSelected(ids);
            },
          }
        : null,
    [hasSelection, setSelected, hashId],
  );

  // A click on a row, delegated from the body: rows carry no handlers of their own.
  const onRowClick = useLatest(p.onRowClick);
  const onBodyClick = useCallback(
    (e: React.MouseEvent<HTMLTableSectionElement>) => {
      const tr = (e.target as Element).closest?.<HTMLElement>('tr[data-row-id]');
      if (!tr || !e.currentTarget.contains(tr)) return;
      const id = tr.getAttribute('data-row-id');
      const r = latest.current.rows.find((x) => x.id === id);
      if (r) onRowClick(r, e, tr);
    },
    [onRowClick],
  );

  const cells = useMemo(() => bodyColumns(p.columns), [p.columns]);
  const headColumns: ColumnsType<RecordRow> = useMemo(
    () =>
      hasSelection
        ? [{ key: SELECT_COLUMN, width: 40, className: 'ant-table-selection-column', title: <SelectShown /> }, ...p.columns]
        : p.columns,
    [p.columns, hasSelection],
  );

  // The spacers: where the rows drawn start, as last moved (by React or by the scroll handler).
  const drawn = firstLoading ? 0 : rows.length;
  const at = winRef.current.start === win.start && winRef.current.end === win.end ? winRef.current : win;
  const top = firstLoading ? 0 : at.top;
  const start = firstLoading ? 0 : win.start;
  latest.current = { sel, selected, rows, loaded: () => cachedPages(qc, app, entity, options) };
  const model: BodyModel = {
    native: rows.length === 0,
    rows,
    start,
    top,
    bottom: firstLoading ? 0 : Math.max(0, total - top - drawn * rowHeight),
    span: p.columns.length + (hasSelection ? 1 : 0),
    columns: cells,
    rowClassName: p.rowClassName,
    select,
    selected,
    topRef,
    bottomRef,
    onClick: onBodyClick,
  };

  // The spacers' heights are also set by the scroll handler (`apply`), which React does not
  // see: they are written after every render, whatever React last wrote.
  useLayoutEffect(() => {
    if (topRef.current) topRef.current.style.height = `${model.top}px`;
    if (bottomRef.current) bottomRef.current.style.height = `${model.bottom}px`;
  });

  const components = useMemo(() => ({ header: { cell: p.headerCell }, body: { wrapper: WindowBody } }), [p.headerCell]);
  // The body's height is the CSS's (`--grid-body-h`, index.css): antd's table is not rendered
  // again when it changes, `scroll.y` only tells it to fix the header.
  const scroll = useMemo(() => ({ x: p.scrollX, y: BODY_Y }), [p.scrollX]);
  const locale = useMemo(() => ({ emptyText: p.emptyText }), [p.emptyText]);
  const onChange = useLatest((...a: Parameters<NonNullable<TableProps<RecordRow>['onChange']>>) => p.onChange?.(...a));
  const first = Math.floor(rowAt(body()?.scrollTop ?? 0, g));
  const onScreen = Math.min(extent, first + Math.floor(viewport / rowHeight));

  return (
    <div
      ref={wrapRef}
      className="grid-window"
      style={{ '--grid-body-h': `${viewport}px` } as React.CSSProperties}
      data-testid="grid-window"
      data-extent={extent}
      data-window={`${win.start}-${win.end}@${win.top}`}
    >
      <BodyContext.Provider value={model}>
        <HeadTable
          size="small"
          rowKey="id"
          data-testid="grid"
          className="grid-table"
          columns={headColumns}
          components={components}
          dataSource={rows.length ? STAND_IN : NO_ROWS}
          loading={firstLoading && status.fetching}
          pagination={false}
          scroll={scroll}
          showSorterTooltip={false}
          locale={locale}
          onChange={onChange}
        />
      </BodyContext.Provider>
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
