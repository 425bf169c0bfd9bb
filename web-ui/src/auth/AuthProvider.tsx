import { createContext, useCallback, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient, type UseMutationResult } from '@tanstack/react-query';
import { ProblemError, toProblem, tokenStore, useApi, type LoginResponse, type Tenant, type User } from '../api';
import { logIn, meQuery, saveLanguage, sessionKeys, type Credentials } from '../api/queries/session';
import { langOfTag, useI18n, type Lang } from '../i18n';
import { clearUserStorage } from '../shared/userStorage';

export interface Session {
  user: User;
  tenant: Tenant | null;
}

export type AuthState =
  | { status: 'loading' }
  | { status: 'anonymous'; expired?: boolean }
  | { status: 'error'; error: ProblemError }
  | { status: 'authenticated'; session: Session };

export interface Auth {
  state: AuthState;
  /** Logging in: `login.mutate({email, password})`; its `error` is a ProblemError. */
  login: UseMutationResult<LoginResponse, ProblemError, Credentials>;
  logout: () => void;
  retry: () => void;
  /** Keeps a language the user chose as theirs (on the server; the next login applies it). */
  rememberLanguage: (lang: Lang) => void;
}

const AuthContext = createContext<Auth | null>(null);

export function useAuth(): Auth {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error('useAuth must be used inside <AuthProvider>');
  return ctx;
}

/** The session, when the caller knows it is rendered behind <RequireAuth>. */
export function useSession(): Session {
  const { state } = useAuth();
  if (state.status !== 'authenticated') throw new Error('no session');
  return state.session;
}

/**
 * The session: a saved token is checked with `/me` (a query), logging in is a
 * mutation. Whatever ends the session (logout, any authenticated call answered
 * 401) forgets the token and drops every cached answer, so the next user never
 * sees the last one's data.
 */
export function AuthProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const queryClient = useQueryClient();
  const [token, setToken] = useState<string | null>(() => tokenStore.get());
  const [expired, setExpired] = useState(false);
  // The user from the login answer, for when `/me` right after it failed.
  const [loginUser, setLoginUser] = useState<User | null>(null);
  const { setLang } = useI18n();
  // `user:lang` of the server's language last applied.
  const applied = useRef<string | null>(null);
  // Who is logged in, for what logging out removes from this browser.
  const current = useRef<string | null>(null);

  const end = useCallback(
    (why: 'logout' | 'expired') => {
      // Logging out takes the user's drafts and SOP ticks along; an expired session keeps them
      // (the same user logs in again and finds their unsaved form), and they are the user's own.
      if (why === 'logout') clearUserStorage(current.current);
      current.current = null;
      tokenStore.clear();
      setToken(null);
      setLoginUser(null);
      setExpired(why === 'expired');
      applied.current = null;
      queryClient.removeQueries();
    },
    [queryClient],
  );

  // Any authenticated call answered 401: the token is gone or expired.
  useEffect(() => api.onUnauthorized(() => end('expired')), [api, end]);

  const me = useQuery({ ...meQuery(api), enabled: token !== null });

  // The user's own language, once per session and whenever the server's choice changes: it
  // wins over the browser's and over a choice made on the login page.
  const serverLang = me.data ? langOfTag(me.data.language) : null;
  const userId = me.data?.user.id;
  const sessionUser = userId ?? loginUser?.id ?? null;
  useEffect(() => {
    if (sessionUser) current.current = sessionUser;
  }, [sessionUser]);
  useEffect(() => {
    if (!userId || !serverLang) return;
    const key = `${userId}:${serverLang}`;
    if (applied.current === key) return;
    applied.current = key;
    setLang(serverLang);
  }, [userId, serverLang, setLang]);

  const rememberLanguage = useCallback(
    (lang: Lang) => {
      if (token === null) return;
      saveLanguage(api, lang).then(
        (language) => {
          if (userId) applied.current = `${userId}:${langOfTag(language) ?? ''}`;
          queryClient.setQueryData(sessionKeys.me, (old: typeof me.data) => (old ? { ...old, language } : old));
        },
        // Not remembered (offline, an older server): the choice still holds in this browser.
        () => undefined,
      );
    },
    [api, queryClient, token, userId],
  );

  const login = useMutation<LoginResponse, ProblemError, Credentials>({
    mutationFn: async (credentials) => {
      try {
        const { login, me } = await logIn(api, credentials, tokenStore.set);
        if (me) queryClient.setQueryData(sessionKeys.me, me);
        return login;
      } catch (e) {
        throw toProblem(e);
      }
    },
    onSuccess: ({ token, user }) => {
      setToken(token);
      setLoginUser(user);
      setExpired(false);
    },
  });

  const resetLogin = login.reset;
  const logout = useCallback(() => {
    end('logout');
    resetLogin();
  }, [end, resetLogin]);
  const refetchMe = me.refetch;
  const retry = useCallback(() => void refetchMe(), [refetchMe]);

  let state: AuthState;
  if (token === null) {
    state = { status: 'anonymous', expired };
  } else if (me.data) {
    state = { status: 'authenticated', session: { user: me.data.user, tenant: me.data.tenant } };
  } else if (loginUser) {
    state = { status: 'authenticated', session: { user: loginUser, tenant: null } };
  } else if (me.isError && !me.isFetching) {
    state = { status: 'error', error: toProblem(me.error) };
  } else {
    state = { status: 'loading' };
  }

  const value: Auth = { state, login, logout, retry, rememberLanguage };
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
