// Pages of records (keyset cursor) and their total, over the generated client.

import { useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { unwrap, useApi } from '../api';
import { countQueryOptions, recordKeys } from './listQueries';
import { pageQuery, type ListOptions, type RecordPage, type RecordRow } from './listRequest';

export { recordKeys } from './listQueries';

/** The rows, page after page: each page starts at the previous one's `next_cursor`. */
export function useRecordPages(app: string, entity: string, o: ListOptions) {
  const api = useApi();
  return useInfiniteQuery({
    queryKey: recordKeys.list(app, entity, o),
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam, signal }) =>
      (await unwrap(
        api.GET('/api/v1/data/{app}/{entity}', {
          params: { path: { app, entity }, query: pageQuery({ ...o, cursor: pageParam }) },
          signal,
        }),
      )) as unknown as RecordPage,
    getNextPageParam: (last) => last.next_cursor ?? null,
    // A new search or sort keeps the old rows on screen until the new ones arrive.
    placeholderData: (prev) => prev,
  });
}

/** The total number of rows, asked on its own so it never blocks them. */
export function useRecordCount(app: string, entity: string, o: ListOptions) {
  return useQuery(countQueryOptions(useApi(), app, entity, o));
}

export function useRecord(app: string, entity: string, id: string, expand: readonly string[]) {
  const api = useApi();
  return useQuery({
    queryKey: [...recordKeys.one(app, entity, id), expand] as const,
    queryFn: async ({ signal }) =>
      (await unwrap(
        api.GET('/api/v1/data/{app}/{entity}/{id}', {
          params: { path: { app, entity, id }, query: expand.length ? { expand: expand.join(',') } : {} },
          signal,
        }),
      )) as unknown as RecordRow,
  });
}
