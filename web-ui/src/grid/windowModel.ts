// The grid's window over a list of any length (a million rows and more): which rows are drawn
// for a scroll position, how tall the scrolled content is, which pages of the list hold those
// rows, and how each page is asked for — by the cursor of the page before it when that one is
// loaded (scrolling on), else by offset (a jump: the scrollbar dragged far away).

import type { RecordPage, RecordRow } from './listRequest';

/** Browsers cap an element's height (Chrome at about 33.5 million px, Firefox at about 17.9
 * million): taller lists scroll a content this high, each pixel moving more than one. */
export const MAX_SCROLL_PX = 15_000_000;

/** Rows drawn above and below those on screen. */
export const OVERSCAN = 12;

export interface Geometry {
  /** Rows the list holds (or is known to hold so far). */
  extent: number;
  rowHeight: number;
  /** The height of the scrolling body. */
  viewport: number;
}

/** The height of the scrolled content: every row's, or at most [`MAX_SCROLL_PX`]. */
export function contentHeight(g: Geometry): number {
  return Math.min(g.extent * g.rowHeight, MAX_SCROLL_PX);
}

/** The row (fractional) at the top of the viewport at a scroll position. */
export function rowAt(scrollTop: number, g: Geometry): number {
  const real = g.extent * g.rowHeight;
  const h = contentHeight(g);
  if (real <= h) return Math.max(0, scrollTop) / g.rowHeight;
  // Scaled: the scroll range maps onto the rows' range, end to end.
  const maxScroll = h - g.viewport;
  const maxReal = real - g.viewport;
  if (maxScroll <= 0) return 0;
  const s = Math.min(Math.max(0, scrollTop), maxScroll);
  return ((s / maxScroll) * maxReal) / g.rowHeight;
}

/** The rows drawn, `[start, end)`, and where the first of them is drawn (px from the top). */
export interface RowWindow {
  start: number;
  end: number;
  top: number;
}

/** The rows on screen at a scroll position, with `overscan` more on either side. */
export function windowAt(scrollTop: number, g: Geometry, overscan = OVERSCAN): RowWindow {
  const first = rowAt(scrollTop, g);
  const onScreen = Math.ceil(g.viewport / g.rowHeight) + 1;
  const start = Math.max(0, Math.min(Math.floor(first) - overscan, g.extent - onScreen - overscan));
  const end = Math.min(g.extent, Math.floor(first) + onScreen + overscan);
  return { start, end: Math.max(start, end), top: topOf(scrollTop, first, start, g) };
}

/** Where row `start` is drawn so that row `first` (fractional) is at the top of the viewport. */
function topOf(scrollTop: number, first: number, start: number, g: Geometry): number {
  return Math.max(0, Math.max(0, scrollTop) - (first - start) * g.rowHeight);
}

/**
 * The same rows at a new scroll position, when those on screen are still among them: only
 * where they are drawn moves (and, for a list taller than [`MAX_SCROLL_PX`], by more than the
 * scroll). `null` when other rows must be drawn.
 */
export function shiftWindow(w: RowWindow, scrollTop: number, g: Geometry): RowWindow | null {
  const first = rowAt(scrollTop, g);
  const onScreen = Math.ceil(g.viewport / g.rowHeight) + 1;
  const last = Math.min(g.extent, Math.floor(first) + onScreen);
  if (Math.floor(first) < w.start || last > w.end) return null;
  if (w.start > 0 && Math.floor(first) - w.start < 2) return null;
  if (w.end < g.extent && w.end - last < 2) return null;
  return { ...w, top: topOf(scrollTop, first, w.start, g) };
}

/** The pages (of `pageSize` rows) holding rows `[start, end)`. */
export function pagesFor(start: number, end: number, pageSize: number): number[] {
  if (end <= start) return [];
  const out: number[] = [];
  for (let k = Math.floor(start / pageSize); k * pageSize < end; k++) out.push(k);
  return out;
}

/** How page `k` is asked for: the first plainly, the next after a loaded one by its cursor,
 * any other by offset. */
export function pageStart(
  k: number,
  pageSize: number,
  previous: RecordPage | undefined,
): { cursor?: string; offset?: number } {
  if (k === 0) return {};
  if (previous?.next_cursor) return { cursor: previous.next_cursor };
  return { offset: k * pageSize };
}

/**
 * How many rows the grid scrolls over: the total once counted, else as far as the loaded
 * pages reach, plus a page when the last of them leads on. A last page that ends the list
 * (no next cursor) says exactly where it ends, whatever the count said before.
 */
export function extentOf(
  total: number | null | undefined,
  pages: ReadonlyMap<number, RecordPage>,
  pageSize: number,
): number {
  let reach = 0;
  for (const [k, p] of pages) {
    if (!p.next_cursor) return k * pageSize + p.data.length;
    reach = Math.max(reach, (k + 2) * pageSize);
  }
  return typeof total === 'number' ? total : reach;
}

/** A row not loaded yet, drawn as a skeleton. */
export interface PlaceholderRow extends RecordRow {
  __placeholder: true;
}

export function isPlaceholder(r: RecordRow): r is PlaceholderRow {
  return (r as Partial<PlaceholderRow>).__placeholder === true;
}

/** Rows `[start, end)`: the loaded ones from their pages, the others as placeholders. */
export function rowsIn(
  start: number,
  end: number,
  pages: ReadonlyMap<number, RecordPage>,
  pageSize: number,
): RecordRow[] {
  const out: RecordRow[] = [];
  for (let i = start; i < end; i++) {
    const p = pages.get(Math.floor(i / pageSize));
    const r = p?.data[i % pageSize];
    out.push(r ?? ({ id: `\u0000row-${i}`, __placeholder: true } as PlaceholderRow));
  }
  return out;
}
