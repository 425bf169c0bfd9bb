// The session: who the caller is (`/me`), and logging in.

import { queryOptions } from '@tanstack/react-query';
import { unwrap, type ApiClient } from '../client';
import { toProblem } from '../problem';
import type { LoginResponse, Me } from '../types';
import { langTag, type Lang } from '../../i18n/i18n';

export const sessionKeys = {
  me: ['me'] as const,
};

export function meQuery(api: ApiClient) {
  return queryOptions({
    queryKey: sessionKeys.me,
    queryFn: ({ signal }): Promise<Me> => unwrap(api.GET('/api/v1/me', { signal })),
  });
}

export interface Credentials {
  email: string;
  password: string;
}

/**
 * Logs in and then asks who we are, so the page after the login has the
 * tenant. `store` keeps the token before `/me` is asked. A `/me` that fails
 * for another reason than the token is not the login's failure: the answer is
 * then `me: null` (the tenant name is only decoration).
 */
export async function logIn(
  api: ApiClient,
  { email, password }: Credentials,
  store: (token: string) => void,
): Promise<{ login: LoginResponse; me: Me | null }> {
  const login = await unwrap(api.POST('/api/v1/auth/login', { body: { email, password } }));
  store(login.token);
  try {
    return { login, me: await unwrap(api.GET('/api/v1/me')) };
  } catch (e) {
    if (toProblem(e).isUnauthenticated) throw e;
    return { login, me: null };
  }
}

/** Keeps the user's language on the server; answers the language it now keeps. */
export async function saveLanguage(api: ApiClient, lang: Lang): Promise<Me['language']> {
  return (await unwrap(api.PUT('/api/v1/me/preferences', { body: { language: langTag(lang) } }))).language;
}
