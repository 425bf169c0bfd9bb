// Typed client for the Trellis HTTP API (/api/v1).
//
// Every non-2xx answer is turned into a `ProblemError` (RFC 9457 problem
// details, as the server sends them as application/problem+json). Answers that
// are not problem documents (a proxy's HTML 502, a network failure, a timeout)
// are normalised into the same shape so callers only handle one error type.

export interface LocalizedText {
  zh: string;
  en: string;
}

export interface User {
  id: string;
  email: string;
  name: string;
  tenant_id: string;
  is_admin: boolean;
}

export interface Tenant {
  id: string;
  name: string;
}

export interface LoginResponse {
  token: string;
  user: User;
}

export interface MeResponse {
  user: User;
  tenant: Tenant;
}

/** Field definitions are not used by this page yet; kept open on purpose. */
export type FieldDef = Record<string, unknown>;

export interface Entity {
  name: string;
  label: LocalizedText;
  fields: FieldDef[];
}

export interface App {
  name: string;
  label: LocalizedText;
  description: LocalizedText | null;
  version: number | string;
  created_at: string;
  updated_at: string;
  entities: Entity[];
}

export interface CreateAppRequest {
  name: string;
  label: LocalizedText;
  description?: LocalizedText;
}

export interface ProblemFieldError {
  field: string;
  code: string;
  message: string;
}

export interface Problem {
  type?: string;
  title: string;
  status: number;
  code: string;
  detail?: string;
  errors?: ProblemFieldError[];
}

/** Code used when the request never got an HTTP answer. */
export const NETWORK_ERROR = 'network_error';
/** Code used when the request was aborted by our own timeout. */
export const TIMEOUT = 'timeout';

export class ProblemError extends Error implements Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: string;
  readonly detail?: string;
  readonly errors: ProblemFieldError[];

  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.name = 'ProblemError';
    this.type = problem.type ?? 'about:blank';
    this.title = problem.title;
    this.status = problem.status;
    this.code = problem.code;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
  }

  get isUnauthenticated(): boolean {
    return this.status === 401;
  }

  /** The text to show a person: the detail if any, else the title. */
  get displayMessage(): string {
    return this.detail || this.title || `HTTP ${this.status}`;
  }

  /** Builds a ProblemError from a non-2xx response, whatever its body is. */
  static async fromResponse(res: Response): Promise<ProblemError> {
    let body: unknown = undefined;
    const text = await res.text().catch(() => '');
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
    }
    return new ProblemError(coerceProblem(body, res.status, res.statusText));
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** Reads whatever the server sent and returns a well-formed Problem. */
export function coerceProblem(body: unknown, status: number, statusText = ''): Problem {
  const fallbackTitle = statusText || `HTTP ${status}`;
  if (!isObject(body)) {
    return { title: fallbackTitle, status, code: `http_${status}` };
  }
  const errors = Array.isArray(body.errors)
    ? body.errors.filter(isObject).map((e) => ({
        field: typeof e.field === 'string' ? e.field : '',
        code: typeof e.code === 'string' ? e.code : '',
        message: typeof e.message === 'string' ? e.message : '',
      }))
    : undefined;
  return {
    type: str(body.type),
    title: str(body.title) ?? fallbackTitle,
    status: typeof body.status === 'number' ? body.status : status,
    code: str(body.code) ?? `http_${status}`,
    detail: str(body.detail),
    errors,
  };
}

export interface ApiClientOptions {
  /** Prefix for every path; '' means same origin. */
  baseUrl?: string;
  /** Returns the bearer token to send, if any. */
  getToken?: () => string | null;
  /** Called when an authenticated request is answered 401. */
  onUnauthorized?: (err: ProblemError) => void;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
  /** Per-request timeout in milliseconds (default 30 s). */
  timeoutMs?: number;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** false for endpoints that must not carry the token (login). */
  auth?: boolean;
}

export function createApiClient(options: ApiClientOptions = {}) {
  const baseUrl = options.baseUrl ?? '';
  const timeoutMs = options.timeoutMs ?? 30_000;

  async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
    const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    const headers: Record<string, string> = { Accept: 'application/json' };
    const useAuth = opts.auth !== false;
    const token = useAuth ? options.getToken?.() : null;
    if (token) headers.Authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }

    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const onCallerAbort = () => timeout.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onCallerAbort, { once: true });

    let res: Response;
    try {
      res = await doFetch(baseUrl + path, {
        method: opts.method ?? 'GET',
        headers,
        body,
        signal: timeout.signal,
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e; // the caller cancelled: not an error to show
      const timedOut = timeout.signal.aborted;
      throw new ProblemError({
        title: timedOut ? 'Request timed out' : 'Network error',
        status: 0,
        code: timedOut ? TIMEOUT : NETWORK_ERROR,
        detail: timedOut ? undefined : e instanceof Error ? e.message : String(e),
      });
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onCallerAbort);
    }

    if (!res.ok) {
      const err = await ProblemError.fromResponse(res);
      if (err.isUnauthenticated && token) options.onUnauthorized?.(err);
      throw err;
    }
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!text) return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ProblemError({
        title: 'Invalid response',
        status: res.status,
        code: 'invalid_response',
        detail: 'The server answered with something that is not JSON.',
      });
    }
  }

  return {
    request,
    login: (email: string, password: string) =>
      request<LoginResponse>('/api/v1/auth/login', {
        method: 'POST',
        body: { email, password },
        auth: false,
      }),
    me: (signal?: AbortSignal) => request<MeResponse>('/api/v1/me', { signal }),
    listApps: async (signal?: AbortSignal) =>
      (await request<{ data: App[] }>('/api/v1/apps', { signal })).data ?? [],
    createApp: (app: CreateAppRequest) =>
      request<App>('/api/v1/apps', { method: 'POST', body: app }),
  };
}

export type ApiClient = ReturnType<typeof createApiClient>;

// ---------------------------------------------------------------------------
// Token storage and the app-wide client instance.

export const TOKEN_KEY = 'trellis.token';

export const tokenStore = {
  get(): string | null {
    try {
      return localStorage.getItem(TOKEN_KEY);
    } catch {
      return null;
    }
  },
  set(token: string): void {
    try {
      localStorage.setItem(TOKEN_KEY, token);
    } catch {
      /* storage disabled: the session lasts until reload */
    }
  },
  clear(): void {
    try {
      localStorage.removeItem(TOKEN_KEY);
    } catch {
      /* ignore */
    }
  },
};

type UnauthorizedListener = (err: ProblemError) => void;
const unauthorizedListeners = new Set<UnauthorizedListener>();

/** Subscribe to "the server rejected our token"; returns the unsubscribe. */
export function onUnauthorized(fn: UnauthorizedListener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

export const api: ApiClient = createApiClient({
  getToken: tokenStore.get,
  onUnauthorized: (err) => unauthorizedListeners.forEach((fn) => fn(err)),
});

/** Splits a problem's field errors into form-field paths and the rest. */
export function fieldPath(field: string): string[] {
  return field
    .replace(/^\/+/, '')
    .split(/[./]/)
    .filter((p) => p !== '');
}
