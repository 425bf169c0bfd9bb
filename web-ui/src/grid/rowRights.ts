// What the caller may do with each row of a grid, as the server says with every page (`rights`
// of a list asked with `rights=true`: per right, all the page's records, none, or their ids; by
// the row scopes the writes check). The grid offers inline edit, bulk edit and bulk delete only
// on rows the server would let the caller change; a row whose page said nothing (not loaded,
// or an older server) falls back to the entity's right, and the server checks every write anyway.

import { useEffect, useMemo } from 'react';
import { partialMatchKey, useQueryClient, type QueryClient } from '@tanstack/react-query';
import type { components } from '../api/schema';
import type { ListOptions, RecordPage } from './listRequest';
import { pagesKey } from './listQueries';
import { cachedPages } from './windowQueries';

export type RecordRights = components['schemas']['RecordRights'];
export type PageRights = components['schemas']['PageRights'];
type Allowed = components['schemas']['Allowed'];

/** Whether a right of a page reaches the record `id` (undefined: the page did not say). */
export function allows(a: Allowed | null | undefined, id: string): boolean | undefined {
  if (a === null || a === undefined) return undefined;
  return typeof a === 'boolean' ? a : a.includes(id);
}

/** The rights of each record of a page, by id (none when the page did not say). */
export function pageRights(page: Pick<RecordPage, 'data' | 'rights'>): Map<string, RecordRights> {
  const out = new Map<string, RecordRights>();
  const r = page.rights;
  if (!r) return out;
  for (const row of page.data) {
    out.set(row.id, { update: allows(r.update, row.id) ?? true, delete: allows(r.delete, row.id) ?? true });
  }
  return out;
}

/** Puts the rights of the list's cached pages into `into`. */
function seed(qc: QueryClient, app: string, entity: string, o: ListOptions, into: Map<string, RecordRights>) {
  for (const page of cachedPages(qc, app, entity, o).values()) for (const [id, r] of pageRights(page)) into.set(id, r);
}

/** What the caller may do with a row of the list, by its id (undefined: not known). The index
 * holds every page of the list cached when the grid renders and each page that arrives later
 * (the cache tells its listeners before the pages' observers render their rows); a page read
 * again replaces its rows' rights. */
export function useRowRights(app: string, entity: string, o: ListOptions): (id: string) => RecordRights | undefined {
  const qc = useQueryClient();
  const index = useMemo(() => {
    const m = new Map<string, RecordRights>();
    seed(qc, app, entity, o, m);
    return m;
  }, [qc, app, entity, o]);
  useEffect(() => {
    const prefix = pagesKey(app, entity, o);
    // Pages that came between the render and now.
    seed(qc, app, entity, o, index);
    return qc.getQueryCache().subscribe((event) => {
      if (event.type !== 'updated' || !partialMatchKey(event.query.queryKey, prefix)) return;
      const page = event.query.state.data as RecordPage | undefined;
      if (page?.data) for (const [id, r] of pageRights(page)) index.set(id, r);
    });
  }, [qc, app, entity, o, index]);
  return useMemo(() => (id: string) => index.get(id), [index]);
}
