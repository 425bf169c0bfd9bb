// One app's definition as the caller may read it, and the caller's roles.

import { queryOptions, useQuery } from '@tanstack/react-query';
import { meQuery } from '../api/queries/session';
import { unwrap, useApi, type ApiClient, type App } from '../api';
import { appKeys } from '../api/queries/apps';
import { useSession } from '../auth';
import type { Caller } from './rights';

export function appQuery(api: ApiClient, app: string) {
  return queryOptions({
    queryKey: [...appKeys.all, 'one', app] as const,
    queryFn: ({ signal }): Promise<App> =>
      unwrap(api.GET('/api/v1/apps/{app}', { params: { path: { app } }, signal })),
  });
}

export function useAppDef(app: string) {
  return useQuery(appQuery(useApi(), app));
}

/** The caller with their roles per app (the user alone until `/me` answers). */
export function useCaller(): Caller {
  const { user } = useSession();
  const me = useQuery(meQuery(useApi()));
  return me.data ?? { user };
}
