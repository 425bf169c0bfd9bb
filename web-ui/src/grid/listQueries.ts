// The queries of a grid's list that the cold load asks before the grid's code has run
// (grid/prefetch.ts): their keys and how they ask. Kept apart from the hooks (grid/queries.ts,
// windowQueries.ts) so the first load carries only these few lines.

import { queryOptions, type QueryClient } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../api';
import { countQuery, PAGE_SIZE, pageQuery, type ListOptions, type RecordPage } from './listRequest';
import { pageStart } from './windowModel';

export const recordKeys = {
  all: ['records'] as const,
  list: (app: string, entity: string, o: ListOptions) => [...recordKeys.all, app, entity, 'list', o] as const,
  count: (app: string, entity: string, o: ListOptions) => [...recordKeys.all, app, entity, 'count', o] as const,
  one: (app: string, entity: string, id: string) => [...recordKeys.all, app, entity, 'one', id] as const,
};

/** The key of page `k` of a list; every page of it starts with `pagesKey`. */
export function pagesKey(app: string, entity: string, o: ListOptions) {
  return [...recordKeys.list(app, entity, o), 'page'] as const;
}
export function pageKey(app: string, entity: string, o: ListOptions, k: number) {
  return [...pagesKey(app, entity, o), k] as const;
}

/** Page `k` of a list (of `PAGE_SIZE` rows): by the cursor of page `k - 1` when that one is
 * loaded, else by offset. */
export function pageQueryOptions(api: ApiClient, qc: QueryClient, app: string, entity: string, o: ListOptions, k: number) {
  return {
    queryKey: pageKey(app, entity, o, k),
    queryFn: async ({ signal }: { signal: AbortSignal }) => {
      const previous = k > 0 ? qc.getQueryData<RecordPage>(pageKey(app, entity, o, k - 1)) : undefined;
      const query = pageQuery({ ...o, limit: PAGE_SIZE, ...pageStart(k, PAGE_SIZE, previous) });
      return (await unwrap(
        api.GET('/api/v1/data/{app}/{entity}', { params: { path: { app, entity }, query }, signal }),
      )) as unknown as RecordPage;
    },
    staleTime: 60_000,
  };
}

/** The total number of rows of a list (the same rows: filter and search). */
export function countQueryOptions(api: ApiClient, app: string, entity: string, o: ListOptions) {
  const key: ListOptions = { q: o.q, filter: o.filter };
  return queryOptions({
    queryKey: recordKeys.count(app, entity, key),
    queryFn: async ({ signal }) => {
      const page = (await unwrap(
        api.GET('/api/v1/data/{app}/{entity}', {
          params: { path: { app, entity }, query: countQuery(key) },
          signal,
        }),
      )) as unknown as RecordPage;
      return page.total ?? null;
    },
  });
}
