// The tenant's users (`GET /users`): one request, cached under one key for every feature that
// shows or picks people (grid cells, filter chips, groups, the form's picker, the record page).

import { queryOptions, useQuery } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../client';
import { useApi } from '../provider';
import type { operations } from '../schema';

export type UserEntry = operations['list_users']['responses'][200]['content']['application/json']['data'][number];

export const userKeys = {
  all: ['users', 'all'] as const,
};

export function usersQuery(api: ApiClient) {
  return queryOptions({
    queryKey: userKeys.all,
    queryFn: async ({ signal }): Promise<UserEntry[]> => (await unwrap(api.GET('/api/v1/users', { signal }))).data,
    staleTime: 60_000,
  });
}

/** The tenant's users, asked once and shared (only once `enabled`). */
export function useUsers(enabled = true) {
  const api = useApi();
  return useQuery({ ...usersQuery(api), enabled });
}

/** A person as a cell shows them. */
export interface Person {
  name: string;
  email: string;
}

/** The users by id, with a name to show (the e-mail when they have none). */
export function peopleById(users: readonly UserEntry[] | undefined): ReadonlyMap<string, Person> {
  const out = new Map<string, Person>();
  for (const u of users ?? []) out.set(u.id, { name: u.name || u.email, email: u.email });
  return out;
}
