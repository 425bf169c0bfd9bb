import { describe, expect, it } from 'vitest';
import type { RecordPage } from './listRequest';
import {
  MAX_SCROLL_PX,
  contentHeight,
  extentOf,
  isPlaceholder,
  pageStart,
  pagesFor,
  rowAt,
  rowsIn,
  shiftWindow,
  windowAt,
  type Geometry,
} from './windowModel';

const page = (from: number, n: number, next: string | null): RecordPage => ({
  data: Array.from({ length: n }, (_, i) => ({ id: `r${from + i}` })),
  next_cursor: next,
});

describe('the window over a short list', () => {
  const g: Geometry = { extent: 1_000, rowHeight: 40, viewport: 400 };

  it('is as tall as its rows and maps pixels to rows one to one', () => {
    expect(contentHeight(g)).toBe(40_000);
    expect(rowAt(0, g)).toBe(0);
    expect(rowAt(4_000, g)).toBe(100);
  });

  it('draws the rows on screen and a few around them, under 100', () => {
    const w = windowAt(4_000, g, 12);
    expect(w.start).toBe(88);
    expect(w.end).toBe(100 + 11 + 12);
    expect(w.top).toBe(88 * 40);
    expect(w.end - w.start).toBeLessThan(100);
  });

  it('starts at the first row and ends at the last', () => {
    expect(windowAt(0, g, 12)).toEqual({ start: 0, end: 23, top: 0 });
    const last = windowAt(40_000 - 400, g, 12);
    expect(last.end).toBe(1_000);
    expect(last.top + (last.end - last.start) * 40).toBe(40_000);
  });

  it('keeps its rows while those on screen stay inside them', () => {
    const w = windowAt(4_000, g, 12);
    expect(shiftWindow(w, 4_040, g)).toEqual(w);
    expect(shiftWindow(w, 4_000 + 40 * 12, g)).toBeNull();
    expect(shiftWindow(w, 0, g)).toBeNull();
  });
});

describe('the window over a million rows', () => {
  const g: Geometry = { extent: 1_000_000, rowHeight: 39, viewport: 700 };

  it('scrolls a content no taller than browsers allow', () => {
    expect(contentHeight(g)).toBe(MAX_SCROLL_PX);
  });

  it('maps the whole scroll range onto the whole list', () => {
    expect(rowAt(0, g)).toBe(0);
    const maxScroll = MAX_SCROLL_PX - 700;
    expect(rowAt(maxScroll, g)).toBeCloseTo(1_000_000 - 700 / 39, 6);
    expect(Math.floor(rowAt(maxScroll / 2, g))).toBe(Math.floor((1_000_000 - 700 / 39) / 2));
  });

  it('draws the middle rows where the viewport is, the last ones at the very end', () => {
    const s = (MAX_SCROLL_PX - 700) / 2;
    const w = windowAt(s, g, 12);
    const first = rowAt(s, g);
    expect(w.start).toBe(Math.floor(first) - 12);
    // Row `first` is drawn at the top of the viewport.
    expect(w.top + (first - w.start) * 39).toBeCloseTo(s, 6);
    const end = windowAt(MAX_SCROLL_PX - 700, g, 12);
    expect(end.end).toBe(1_000_000);
    expect(end.top + (end.end - end.start) * 39).toBeCloseTo(MAX_SCROLL_PX, 3);
  });

  it('moves its rows by more than the scroll while they stay on screen', () => {
    const w = windowAt(7_000_000, g, 12);
    const moved = shiftWindow(w, 7_000_010, g);
    expect(moved?.start).toBe(w.start);
    expect(moved!.top).toBeLessThan(w.top + 10);
  });
});

describe('pages of the list', () => {
  it('are those holding the drawn rows', () => {
    expect(pagesFor(0, 30, 100)).toEqual([0]);
    expect(pagesFor(88, 123, 100)).toEqual([0, 1]);
    expect(pagesFor(499_990, 500_030, 100)).toEqual([4_999, 5_000]);
    expect(pagesFor(5, 5, 100)).toEqual([]);
  });

  it('are asked by the cursor of the page before, else by offset', () => {
    expect(pageStart(0, 100, undefined)).toEqual({});
    expect(pageStart(1, 100, page(0, 100, 'c1'))).toEqual({ cursor: 'c1' });
    expect(pageStart(5_000, 100, undefined)).toEqual({ offset: 500_000 });
  });

  it('reach as far as the count, or the loaded pages and one more', () => {
    const pages = new Map([[0, page(0, 100, 'c1')]]);
    expect(extentOf(undefined, pages, 100)).toBe(200);
    expect(extentOf(1_000_000, pages, 100)).toBe(1_000_000);
    expect(extentOf(undefined, new Map(), 100)).toBe(0);
    // A last page says where the list ends, even when the count said more.
    pages.set(3, page(300, 42, null));
    expect(extentOf(1_000, pages, 100)).toBe(342);
  });

  it('give the rows of a window, placeholders where not loaded', () => {
    const pages = new Map([
      [0, page(0, 100, 'c1')],
      [2, page(200, 100, 'c3')],
    ]);
    const rows = rowsIn(95, 205, pages, 100);
    expect(rows).toHaveLength(110);
    expect(rows[0].id).toBe('r95');
    expect(isPlaceholder(rows[4])).toBe(false);
    expect(isPlaceholder(rows[5])).toBe(true);
    expect(new Set(rows.map((r) => r.id)).size).toBe(110);
    expect(rows[105].id).toBe('r200');
  });
});
