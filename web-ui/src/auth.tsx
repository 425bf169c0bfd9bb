import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useState,
  type ReactNode,
} from 'react';
import {
  api as defaultApi,
  onUnauthorized,
  ProblemError,
  tokenStore,
  type ApiClient,
  type Tenant,
  type User,
} from './api';

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
  api: ApiClient;
  login: (email: string, password: string) => Promise<void>;
  logout: () => void;
  retry: () => void;
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

function toProblem(e: unknown): ProblemError {
  if (e instanceof ProblemError) return e;
  return new ProblemError({
    title: e instanceof Error ? e.message : String(e),
    status: 0,
    code: 'client_error',
  });
}

export function AuthProvider({ children, api = defaultApi }: { children: ReactNode; api?: ApiClient }) {
  const [state, setState] = useState<AuthState>(() =>
    tokenStore.get() ? { status: 'loading' } : { status: 'anonymous' },
  );
  const [attempt, setAttempt] = useState(0);

  // Restore the session from a saved token.
  useEffect(() => {
    if (!tokenStore.get()) return;
    const ctrl = new AbortController();
    setState({ status: 'loading' });
    api
      .me(ctrl.signal)
      .then((me) => setState({ status: 'authenticated', session: { user: me.user, tenant: me.tenant } }))
      .catch((e: unknown) => {
        if (ctrl.signal.aborted) return;
        const err = toProblem(e);
        if (err.isUnauthenticated) {
          tokenStore.clear();
          setState({ status: 'anonymous', expired: true });
        } else {
          setState({ status: 'error', error: err });
        }
      });
    return () => ctrl.abort();
  }, [api, attempt]);

  // Any authenticated call answered 401: the token is gone or expired.
  useEffect(
    () =>
      onUnauthorized(() => {
        tokenStore.clear();
        setState({ status: 'anonymous', expired: true });
      }),
    [],
  );

  const login = useCallback(
    async (email: string, password: string) => {
      const res = await api.login(email, password);
      tokenStore.set(res.token);
      let session: Session = { user: res.user, tenant: null };
      try {
        const me = await api.me();
        session = { user: me.user, tenant: me.tenant };
      } catch (e) {
        // The tenant name is only decoration, but a token rejected at once is not.
        if (toProblem(e).isUnauthenticated) throw e;
      }
      setState({ status: 'authenticated', session });
    },
    [api],
  );

  const logout = useCallback(() => {
    tokenStore.clear();
    setState({ status: 'anonymous' });
  }, []);

  const retry = useCallback(() => setAttempt((n) => n + 1), []);

  const value = useMemo<Auth>(() => ({ state, api, login, logout, retry }), [state, api, login, logout, retry]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
