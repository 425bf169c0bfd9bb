// Apps: the list, and creating one (which refreshes the list).

import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../client';
import { useApi } from '../provider';
import type { App, AppDef } from '../types';

export const appKeys = {
  all: ['apps'] as const,
  list: () => [...appKeys.all, 'list'] as const,
};

export function appsQuery(api: ApiClient) {
  return queryOptions({
    queryKey: appKeys.list(),
    queryFn: async ({ signal }): Promise<App[]> =>
      (await unwrap(api.GET('/api/v1/apps', { signal }))).data,
  });
}

/** The caller's apps. */
export function useApps() {
  return useQuery(appsQuery(useApi()));
}

/** Creates an app; on success every apps query is refetched. */
export function useCreateApp() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (app: AppDef): Promise<App> => unwrap(api.POST('/api/v1/apps', { body: app })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: appKeys.all }),
  });
}
