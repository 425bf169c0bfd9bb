// Which grid a page shows and the list it asks for first: the same functions serve the grid
// (grid/EntityGrid.tsx, EntityPage, ViewPage) and the cold load at a grid's address, which asks
// for the first page as soon as the app's definition and `/me` are in (grid/prefetch.ts), before
// the grid's code has run; both must name the same query, so both compute it here.

import type { App, EntityDef, FieldDef, ViewDef } from '../api';
import { readableEntities, type Caller } from '../apps/rights';
import { andFilters, emptyGroup, toFilter } from './filterModel';
import type { ListOptions, SortKey } from './listRequest';
import { initialColumns, type GridColumn } from './viewModel';

/** `/apps/:app/:entity`: the entity (if the caller may read it) and its default view, if any. */
export function entityTarget(app: App, caller: Caller, name: string): { entity?: EntityDef; view?: ViewDef } {
  const entity = readableEntities(app, caller).find((e) => e.name === name);
  const view = (app.views ?? []).find((v) => v.entity === name && v.default && v.type === 'grid');
  return { entity, view };
}

/** `/apps/:app/views/:view`: the shared view and its entity (if the caller may read it). */
export function viewTarget(app: App, caller: Caller, name: string): { entity?: EntityDef; view?: ViewDef } {
  const view = (app.views ?? []).find((v) => v.name === name);
  const entity = view && readableEntities(app, caller).find((e) => e.name === view.entity);
  return { entity, view };
}

/** The view's sort as the grid starts with it. */
export function viewSort(view?: Pick<ViewDef, 'sort'>): SortKey[] {
  return (view?.sort ?? []).map((s) => ({ field: s.field, desc: s.desc === true }));
}

/** The fields of the visible columns, in order, with their widths. */
export function columnFields(entity: EntityDef, cols: readonly GridColumn[]): { field: FieldDef; width?: number }[] {
  const all = entity.fields ?? [];
  return cols.flatMap((c) => {
    const f = all.find((x) => x.name === c.field);
    return f ? [{ field: f, width: c.width }] : [];
  });
}

/** Related titles come with the page: one request per page, whatever the number of relations.
 * A relation to an entity the caller may not read stays an id (expanded, it would be null). */
export function relationsToExpand(fields: readonly { field: FieldDef }[], readable: ReadonlySet<string>): string[] {
  return fields.filter(({ field }) => field.type === 'relation' && readable.has(field.target ?? '')).map(({ field }) => field.name);
}

/** The list a grid asks for when it opens: no search, the view's sort, columns and filter. */
export function firstListOptions(app: App, entity: EntityDef, view: ViewDef | undefined, caller: Caller): ListOptions {
  const readable = new Set(readableEntities(app, caller).map((e) => e.name));
  const fields = columnFields(entity, initialColumns(entity.fields ?? [], view));
  return {
    q: '',
    sort: viewSort(view),
    expand: relationsToExpand(fields, readable),
    // `$user.id`, `$user.team` and `$user.teams` in a view's filter are the server's to fill.
    filter: andFilters(view?.filter, toFilter(emptyGroup())),
  };
}
