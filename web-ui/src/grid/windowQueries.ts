// The pages of a windowed list (grid/windowModel.ts) in TanStack Query's cache: one query per
// page of `PAGE_SIZE` rows, asked by the cursor of the page before it when that one is
// loaded, else by offset; pages stay cached, so scrolling back asks nothing again.

import { hashKey, useQueries, useQueryClient, type QueryClient } from '@tanstack/react-query';
import { useMemo } from 'react';
import { unwrap, useApi } from '../api';
import { PAGE_SIZE, pageQuery, type ListOptions, type RecordPage, type RecordRow } from './listRequest';
import { recordKeys } from './queries';
import { pageStart } from './windowModel';

/** The key of page `k` of a list; every page of it starts with `pagesKey`. */
export function pagesKey(app: string, entity: string, o: ListOptions) {
  return [...recordKeys.list(app, entity, o), 'page'] as const;
}
export function pageKey(app: string, entity: string, o: ListOptions, k: number) {
  return [...pagesKey(app, entity, o), k] as const;
}

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
    queries: wanted.map((k) => ({
      queryKey: pageKey(app, entity, o, k),
      queryFn: async ({ signal }: { signal: AbortSignal }) => {
        const previous = k > 0 ? qc.getQueryData<RecordPage>(pageKey(app, entity, o, k - 1)) : undefined;
        const query = pageQuery({ ...o, limit: PAGE_SIZE, ...pageStart(k, PAGE_SIZE, previous) });
        return (await unwrap(
          api.GET('/api/v1/data/{app}/{entity}', { params: { path: { app, entity }, query }, signal }),
        )) as unknown as RecordPage;
      },
      staleTime: 60_000,
    })),
  });
  const fetching = results.some((r) => r.isFetching);
  const error = results.find((r) => r.error)?.error ?? null;
  // A new object only when something changed, so the grid re-renders when a page arrives.
  const stamp = results.map((r) => r.dataUpdatedAt).join(',');
  return useMemo(() => ({ fetching, error, stamp }), [fetching, error, stamp]);
}
