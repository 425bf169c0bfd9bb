// The shipped app templates, and installing one (a dry run answers the plan the gallery shows).

import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../client';
import { useApi } from '../provider';
import type { InstallOut, Template } from '../types';
import { appKeys } from './apps';

export const templateKeys = {
  all: ['templates'] as const,
};

export function templatesQuery(api: ApiClient) {
  return queryOptions({
    queryKey: templateKeys.all,
    queryFn: async ({ signal }): Promise<Template[]> =>
      (await unwrap(api.GET('/api/v1/templates', { signal }))).data,
  });
}

/** The templates (administrators); fetched only while `enabled`. */
export function useTemplates(enabled: boolean) {
  return useQuery({ ...templatesQuery(useApi()), enabled });
}

export interface InstallTemplate {
  /** The template's package name. */
  template: string;
  /** The app to install it as; the template's own name when empty. */
  app?: string;
  dryRun: boolean;
}

/** Installs a template, or with `dryRun` plans it; an install refreshes apps and templates. */
export function useInstallTemplate() {
  const api = useApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ template, app, dryRun }: InstallTemplate): Promise<InstallOut> =>
      unwrap(
        api.POST('/api/v1/templates/{package}/install', {
          params: { path: { package: template }, query: { app: app || undefined, dry_run: dryRun } },
        }),
      ),
    onSuccess: (out) => {
      if (out.applied) {
        void queryClient.invalidateQueries({ queryKey: appKeys.all });
        void queryClient.invalidateQueries({ queryKey: templateKeys.all });
      }
    },
  });
}
