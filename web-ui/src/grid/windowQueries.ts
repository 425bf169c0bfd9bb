// The pages of a windowed list (grid/windowModel.ts) in TanStack Query's cache: one query per
// page of `PAGE_SIZE` rows, asked by the cursor of the page before it when that one is
// loaded, else by offset; pages stay cached, so scrolling back asks nothing again.

import { hashKey, useQueries, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useMemo } from 'react';
import { useApi } from '../api';
import type { ListOptions, RecordPage, RecordRow } from './listRequest';
import { pageKey, pageQueryOptions, pagesKey } from './listQueries';

export { pageKey, pagesKey } from './listQueries';

/** The loaded pages of a list, by number. (Keys match in part — a filter `{and: [a]}` would
 * find the pages of `{and: [a, b]}` too — so each page's key is checked whole.) */
export function cachedPages(qc: QueryClient, app: string, entity: string, o: ListOptions): Map<number, RecordPage> {
  const out = new Map<number, RecordPage>();
  for (const query of qc.getQueryCache().findAll({ queryKey: pagesKey(app, entity, o) })) {
    const k = query.queryKey[query.queryKey.length - 1];
    const data = query.state.data as RecordPage | undefined;
    if (typeof k === 'number' && data && query.queryHash === hashKey(pageKey(app, entity, o, k))) out.set(k, data);
  }
  return out;
}

/** The loaded rows of a list, by id. */
export function cachedRows(qc: QueryClient, app: string, entity: string, o: ListOptions): Map<string, RecordRow> {
  const out = new Map<string, RecordRow>();
  for (const p of cachedPages(qc, app, entity, o).values()) for (const r of p.data) out.set(r.id, r);
  return out;
}

/**
 * Asks for pages `wanted` of a list (those already cached are not asked again for a minute).
 * Answers whether any is loading and the first error.
 */
export function useListPages(app: string, entity: string, o: ListOptions, wanted: readonly number[]) {
  const api = useApi();
  const qc = useQueryClient();
  const results = useQueries({
    queries: wanted.map((k) => pageQueryOptions(api, qc, app, entity, o, k)),
  });
  const fetching = results.some((r) => r.isFetching);
  const error = results.find((r) => r.error)?.error ?? null;
  // A new object only when something changed, so the grid re-renders when a page arrives.
  const stamp = results.map((r) => r.dataUpdatedAt).join(',');
  return useMemo(() => ({ fetching, error, stamp }), [fetching, error, stamp]);
}
