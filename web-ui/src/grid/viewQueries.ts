// The caller's personal views of an app (`/apps/{app}/my/views`), and saving a grid's layout as
// a view: to a personal view, as a new one, or to a shared view of the app.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, useApi, type ViewDef } from '../api';
import { appKeys } from '../api/queries/apps';
import type { components } from '../api/schema';

export type PersonalView = components['schemas']['PersonalView'];

export const myViewKeys = { list: (app: string) => ['myViews', app] as const };

export function useMyViews(app: string) {
  const api = useApi();
  return useQuery({
    queryKey: myViewKeys.list(app),
    queryFn: async ({ signal }) =>
      (await unwrap(api.GET('/api/v1/apps/{app}/my/views', { params: { path: { app } }, signal }))).data,
  });
}

export type SaveKind = 'personal' | 'newPersonal' | 'shared';

/** Saves a view; personal views and the app's definition are read again after it. */
export function useSaveView(app: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: async ({ kind, body }: { kind: SaveKind; body: ViewDef }) => {
      const view = { path: { app, view: body.name } };
      if (kind === 'newPersonal') {
        await unwrap(api.POST('/api/v1/apps/{app}/my/views', { params: { path: { app } }, body }));
      } else if (kind === 'personal') {
        await unwrap(api.PUT('/api/v1/apps/{app}/my/views/{view}', { params: view, body }));
      } else {
        await unwrap(api.PUT('/api/v1/apps/{app}/views/{view}', { params: view, body }));
      }
      return body;
    },
    onSuccess: async (_v, { kind }) => {
      if (kind === 'shared') await qc.invalidateQueries({ queryKey: appKeys.all });
      else await qc.invalidateQueries({ queryKey: myViewKeys.list(app) });
    },
  });
}
