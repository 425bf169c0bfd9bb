// A grid's layout as a view (`view.schema.json`): the visible columns in order with their
// widths, the sort, the filter and the grouping, read from a view when the grid opens and
// written back when the user saves it — to their current personal view, as a new personal view
// (`/apps/{app}/my/views`), or to the shared view they opened (those who may change the app).

import type { FieldDef, ViewDef } from '../api';
import { andFilters } from './filterModel';
import type { SortKey } from './listRequest';

export interface GridColumn {
  field: string;
  /** Pixels; none: the field type's default width. */
  width?: number;
}

/** A view's row height (`row_height` of `view.schema.json`; short when it says none). */
export type RowHeight = NonNullable<ViewDef['row_height']>;

/**
 * Each row height: the rows' pixels (every row of the grid has them, which the window over a
 * long list counts on) and the lines of text a cell shows in them (wrapped, then cut).
 */
export const ROW_HEIGHTS: Readonly<Record<RowHeight, { px: number; lines: number }>> = {
  short: { px: 39, lines: 1 },
  medium: { px: 56, lines: 2 },
  tall: { px: 88, lines: 3 },
  extra_tall: { px: 128, lines: 5 },
};

/** The row height a grid opens with: its view's. */
export function rowHeightOf(view?: Pick<ViewDef, 'row_height'> | null): RowHeight {
  const h = view?.row_height;
  return h && h in ROW_HEIGHTS ? h : 'short';
}

/** The line height of a cell's text (`.cell-lines` in `src/index.css`). */
export const LINE_PX = 22;

/**
 * The style of the grid's body that gives its rows their height: `--grid-row-height` and
 * `--grid-row-lines`, which `src/index.css` applies to the rows and to a cell's text.
 */
export function rowHeightStyle(h: RowHeight): Record<'--grid-row-height' | '--grid-row-lines', string> {
  const { px, lines } = ROW_HEIGHTS[h];
  return { '--grid-row-height': `${px}px`, '--grid-row-lines': String(lines) };
}

/** The widths a view accepts. */
export const MIN_WIDTH = 40;
export const MAX_WIDTH = 2000;

export const clampWidth = (w: number) => Math.min(MAX_WIDTH, Math.max(MIN_WIDTH, Math.round(w)));

/**
 * The grid's columns when it opens: the view's (those still among `known`: the entity's fields
 * and the system fields the grid shows, `owner`, `created_at`…), else every field in order.
 */
export function initialColumns(
  fields: readonly Pick<FieldDef, 'name'>[],
  view?: Pick<ViewDef, 'columns'>,
  known: readonly Pick<FieldDef, 'name'>[] = fields,
): GridColumn[] {
  const names = new Set(known.map((f) => f.name));
  if (!view?.columns?.length) return fields.map((f) => ({ field: f.name }));
  return view.columns.filter((c) => names.has(c.field)).map((c) => (c.width ? { field: c.field, width: c.width } : { field: c.field }));
}

/** The columns with the one at `from` moved to `to` (both clamped to the list). */
export function moveColumn(cols: readonly GridColumn[], from: number, to: number): GridColumn[] {
  const out = [...cols];
  if (from < 0 || from >= out.length) return out;
  const [c] = out.splice(from, 1);
  out.splice(Math.min(Math.max(to, 0), out.length), 0, c);
  return out;
}

/** The columns with `field`'s width set (clamped). */
export function resizeColumn(cols: readonly GridColumn[], field: string, width: number): GridColumn[] {
  return cols.map((c) => (c.field === field ? { ...c, width: clampWidth(width) } : c));
}

/**
 * The columns with `field` shown (appended in the entity's order among the hidden ones' place:
 * at the end) or hidden. The last visible column stays.
 */
export function toggleColumn(cols: readonly GridColumn[], field: string): GridColumn[] {
  if (cols.some((c) => c.field === field)) return cols.length > 1 ? cols.filter((c) => c.field !== field) : [...cols];
  return [...cols, { field }];
}

/** What the grid shows now, to be saved. */
export interface GridLayout {
  columns: readonly GridColumn[];
  sort: readonly SortKey[];
  /** The user's own filter (built in the grid), added to the view's. */
  filter?: unknown;
  groupBy?: string;
}

/**
 * The view to save: the base view's settings (type, row height, dates, its filter as written,
 * `$user.id` kept) with the grid's columns, sort and grouping, and its filter and the user's
 * joined. `default` is the base's for a shared view and never set on a personal one.
 */
export function viewBody(
  base: ViewDef | undefined,
  layout: GridLayout,
  target: { name: string; label: ViewDef['label']; entity: string; personal: boolean },
): ViewDef {
  const body: ViewDef = { name: target.name, label: target.label, entity: target.entity, type: base?.type ?? 'grid' };
  const filter = andFilters(base?.filter ?? undefined, layout.filter);
  if (filter !== undefined) body.filter = filter as ViewDef['filter'];
  if (layout.sort.length) body.sort = layout.sort.map((s) => (s.desc ? { field: s.field, desc: true } : { field: s.field }));
  if (layout.columns.length) {
    body.columns = layout.columns.map((c) => (c.width ? { field: c.field, width: clampWidth(c.width) } : { field: c.field }));
  }
  const group = layout.groupBy ?? (base?.type === 'kanban' ? base.group_by : undefined);
  if (group) body.group_by = group;
  if (base?.row_height && body.type === 'grid') body.row_height = base.row_height;
  if (base?.date_field) body.date_field = base.date_field;
  if (base?.end_field) body.end_field = base.end_field;
  if (!target.personal && base?.default) body.default = true;
  return body;
}

/** A view name (`^[a-z][a-z0-9_]{0,62}$`) from a label, not one of `taken`. */
export function viewName(label: string, taken: ReadonlySet<string>): string {
  const slug = label
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^[^a-z]+/, '')
    .replace(/_+$/, '')
    .slice(0, 50);
  const stem = slug || 'view';
  if (!taken.has(stem)) return stem;
  for (let i = 2; ; i++) {
    const n = `${stem}_${i}`;
    if (!taken.has(n)) return n;
  }
}

export type SaveTarget = 'personal' | 'newPersonal' | 'shared';

/**
 * Where the grid may be saved: to the personal view it shows, always as a new personal view,
 * and to the shared view it shows for those who may change the app.
 */
export function saveTargets(opened: 'personal' | 'shared' | 'entity', mayEditApp: boolean): SaveTarget[] {
  const out: SaveTarget[] = [];
  if (opened === 'personal') out.push('personal');
  out.push('newPersonal');
  if (opened === 'shared' && mayEditApp) out.push('shared');
  return out;
}
