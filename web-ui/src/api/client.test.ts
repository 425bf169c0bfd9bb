import { describe, expect, it, vi } from 'vitest';
import { createApiClient, unwrap, type ApiClientOptions } from './client';
import { coerceProblem, fieldPath, INVALID_RESPONSE, NETWORK_ERROR, ProblemError, TIMEOUT } from './problem';
import { shouldRetry } from './queryClient';
import { appsQuery } from './queries/apps';
import { logIn } from './queries/session';

// The fake `fetch` is the network boundary: it sees the Request the client
// would send and answers a Response, as the server would.

const BASE = 'http://trellis.test';

function client(options: ApiClientOptions = {}) {
  return createApiClient({ baseUrl: BASE, ...options });
}

function jsonResponse(status: number, body: unknown, contentType = 'application/json') {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': contentType } });
}

function problem(status: number, extra: Record<string, unknown> = {}) {
  return jsonResponse(
    status,
    { type: 'about:blank', title: 'Problem title', status, code: 'some_code', ...extra },
    'application/problem+json',
  );
}

/** A fetch that never answers, but rejects when its request is aborted. */
function hangingFetch(request: Request) {
  return new Promise<Response>((_resolve, reject) => {
    request.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
  });
}

async function catchError(p: Promise<unknown>): Promise<ProblemError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProblemError);
    return e as ProblemError;
  }
  throw new Error('expected the call to fail');
}

const login = (api: ReturnType<typeof client>, email: string, password: string) =>
  unwrap(api.POST('/api/v1/auth/login', { body: { email, password } }));
const me = (api: ReturnType<typeof client>) => unwrap(api.GET('/api/v1/me'));
const listApps = (api: ReturnType<typeof client>, signal?: AbortSignal) =>
  unwrap(api.GET('/api/v1/apps', { signal }));

describe('ProblemError handling', () => {
  it('turns a 401 problem into a ProblemError with its fields', async () => {
    const fetch = vi.fn(async () =>
      problem(401, { code: 'unauthenticated', title: 'Unauthorized', detail: 'invalid email or password' }),
    );
    const err = await catchError(login(client({ fetch }), 'a@b.c', 'wrong'));
    expect(err.status).toBe(401);
    expect(err.code).toBe('unauthenticated');
    expect(err.title).toBe('Unauthorized');
    expect(err.detail).toBe('invalid email or password');
    expect(err.displayMessage).toBe('invalid email or password');
    expect(err.message).toBe('invalid email or password');
    expect(err.isUnauthenticated).toBe(true);
    expect(err.errors).toEqual([]);
  });

  it('falls back to the title when there is no detail', async () => {
    const api = client({ fetch: async () => problem(403, { title: 'Forbidden', code: 'forbidden' }) });
    const err = await catchError(listApps(api));
    expect(err.displayMessage).toBe('Forbidden');
    expect(err.detail).toBeUndefined();
  });

  it('keeps the field errors of a validation problem', async () => {
    const errors = [
      { field: 'name', code: 'pattern', message: 'must match ^[a-z]…' },
      { field: 'label.zh', code: 'required', message: 'required' },
    ];
    const api = client({
      getToken: () => 'tok',
      fetch: async () => problem(422, { code: 'validation_failed', detail: 'invalid app', errors }),
    });
    const err = await catchError(
      unwrap(api.POST('/api/v1/apps', { body: { name: 'Bad', label: { zh: '', en: 'x' } } })),
    );
    expect(err.status).toBe(422);
    expect(err.code).toBe('validation_failed');
    expect(err.errors).toEqual(errors);
  });

  it('normalises a non-JSON error body (e.g. a proxy page)', async () => {
    const api = client({
      fetch: async () =>
        new Response('<html>Bad Gateway</html>', {
          status: 502,
          statusText: 'Bad Gateway',
          headers: { 'Content-Type': 'text/html' },
        }),
    });
    const err = await catchError(listApps(api));
    expect(err.status).toBe(502);
    expect(err.code).toBe('http_502');
    expect(err.title).toBe('Bad Gateway');
  });

  it('refuses a success answer that is not JSON (e.g. the UI page instead of the API)', async () => {
    const api = client({
      fetch: async () =>
        new Response('<!doctype html><html></html>', { status: 200, headers: { 'Content-Type': 'text/html' } }),
    });
    const err = await catchError(listApps(api));
    expect(err.code).toBe(INVALID_RESPONSE);
    expect(err.status).toBe(200);
  });

  it('reports a network failure as status 0', async () => {
    const api = client({
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      },
    });
    const err = await catchError(me(api));
    expect(err.status).toBe(0);
    expect(err.code).toBe(NETWORK_ERROR);
    expect(err.detail).toBe('Failed to fetch');
  });

  it('aborts and reports a request that takes too long', async () => {
    const err = await catchError(listApps(client({ fetch: hangingFetch, timeoutMs: 20 })));
    expect(err.code).toBe(TIMEOUT);
    expect(err.status).toBe(0);
  });

  it('rethrows the caller’s own abort untouched', async () => {
    const ctrl = new AbortController();
    const p = listApps(client({ fetch: hangingFetch }), ctrl.signal);
    ctrl.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });

    // and once the request is on its way
    const fetch = vi.fn(hangingFetch);
    const later = new AbortController();
    const q = listApps(client({ fetch }), later.signal);
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));
    later.abort();
    await expect(q).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('calls onUnauthorized only for requests that carried a token', async () => {
    const onUnauthorized = vi.fn();
    let token: string | null = null;
    const api = client({
      getToken: () => token,
      fetch: async () => problem(401, { code: 'unauthenticated' }),
    });
    const unsubscribe = api.onUnauthorized(onUnauthorized);
    await catchError(me(api));
    expect(onUnauthorized).not.toHaveBeenCalled();
    token = 'expired';
    await catchError(me(api));
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(onUnauthorized.mock.calls[0][0]).toBeInstanceOf(ProblemError);
    // login never sends the token, so a wrong password is not a lost session
    await catchError(login(api, 'a@b.c', 'x'));
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    unsubscribe();
    await catchError(me(api));
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it('coerces odd problem bodies', () => {
    expect(coerceProblem(null, 500, 'Internal Server Error')).toEqual({
      title: 'Internal Server Error',
      status: 500,
      code: 'http_500',
    });
    const p = coerceProblem({ errors: [{ field: 'name' }, 'junk'], status: 'x' }, 400);
    expect(p.status).toBe(400);
    expect(p.title).toBe('HTTP 400');
    expect(p.errors).toEqual([{ field: 'name', code: '', message: '' }]);
  });
});

describe('requests', () => {
  it('sends the bearer token and JSON body, and unwraps the app list', async () => {
    const fetch = vi.fn(async (_request: Request) => jsonResponse(200, { data: [{ name: 'crm' }] }));
    const api = client({ getToken: () => 'tok123', fetch });
    const apps = await appsQuery(api).queryFn!({ signal: new AbortController().signal } as never);
    expect(apps).toEqual([{ name: 'crm' }]);
    const request = fetch.mock.calls[0][0];
    expect(request.url).toBe(`${BASE}/api/v1/apps`);
    expect(request.method).toBe('GET');
    expect(request.headers.get('Authorization')).toBe('Bearer tok123');
    expect(request.headers.get('Accept')).toBe('application/json');

    fetch.mockResolvedValueOnce(jsonResponse(201, { name: 'crm2' }));
    await unwrap(api.POST('/api/v1/apps', { body: { name: 'crm2', label: { zh: '客户', en: 'CRM' } } }));
    const post = fetch.mock.calls[1][0];
    expect(post.url).toBe(`${BASE}/api/v1/apps`);
    expect(post.method).toBe('POST');
    expect(post.headers.get('Content-Type')).toBe('application/json');
    expect(await post.json()).toEqual({ name: 'crm2', label: { zh: '客户', en: 'CRM' } });
  });

  it('does not send the token to the login endpoint', async () => {
    const fetch = vi.fn(async (_request: Request) => jsonResponse(200, { token: 't', user: { id: '1' } }));
    await login(client({ getToken: () => 'old', fetch }), 'a@b.c', 'pw');
    const request = fetch.mock.calls[0][0];
    expect(request.headers.get('Authorization')).toBeNull();
    expect(await request.json()).toEqual({ email: 'a@b.c', password: 'pw' });
  });

  it('logs in, keeps the token, then asks /me with it', async () => {
    let stored: string | null = null;
    const fetch = vi.fn(async (request: Request) =>
      new URL(request.url).pathname === '/api/v1/auth/login'
        ? jsonResponse(200, { token: 'fresh', user: { id: 'u1' } })
        : request.headers.get('Authorization') === 'Bearer fresh'
          ? jsonResponse(200, { user: { id: 'u1' }, tenant: { id: 't1', name: 'Acme' } })
          : problem(503),
    );
    const api = client({ getToken: () => stored, fetch });
    const out = await logIn(api, { email: 'a@b.c', password: 'pw' }, (t) => (stored = t));
    expect(stored).toBe('fresh');
    expect(out.login.token).toBe('fresh');
    expect(out.me?.tenant.name).toBe('Acme');
  });

  it('logs in even when /me fails for another reason than the token, but not on a 401', async () => {
    const answers: Record<string, () => Response> = {
      '/api/v1/auth/login': () => jsonResponse(200, { token: 'fresh', user: { id: 'u1' } }),
      '/api/v1/me': () => problem(503),
    };
    const api = client({ fetch: async (r) => answers[new URL(r.url).pathname]() });
    const out = await logIn(api, { email: 'a@b.c', password: 'pw' }, () => {});
    expect(out).toMatchObject({ login: { token: 'fresh' }, me: null });

    answers['/api/v1/me'] = () => problem(401, { code: 'unauthenticated' });
    const err = await catchError(logIn(api, { email: 'a@b.c', password: 'pw' }, () => {}));
    expect(err.status).toBe(401);
  });
});

describe('retries', () => {
  it('tries again only when there was no answer or the server failed, at most twice', () => {
    const p = (status: number) => new ProblemError({ title: 't', status, code: 'c' });
    expect(shouldRetry(0, p(0))).toBe(true);
    expect(shouldRetry(0, p(503))).toBe(true);
    expect(shouldRetry(1, p(500))).toBe(true);
    expect(shouldRetry(2, p(500))).toBe(false);
    for (const status of [400, 401, 403, 404, 409, 422, 429]) expect(shouldRetry(0, p(status))).toBe(false);
    expect(shouldRetry(0, new Error('a bug'))).toBe(false);
  });
});

describe('fieldPath', () => {
  it('accepts dotted and JSON-pointer field names', () => {
    expect(fieldPath('name')).toEqual(['name']);
    expect(fieldPath('label.zh')).toEqual(['label', 'zh']);
    expect(fieldPath('/label/en')).toEqual(['label', 'en']);
    expect(fieldPath('')).toEqual([]);
  });
});
