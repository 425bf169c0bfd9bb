import { describe, expect, it, vi } from 'vitest';
import { coerceProblem, createApiClient, fieldPath, NETWORK_ERROR, ProblemError, TIMEOUT } from './api';

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

async function catchError(p: Promise<unknown>): Promise<ProblemError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ProblemError);
    return e as ProblemError;
  }
  throw new Error('expected the call to fail');
}

describe('ProblemError handling', () => {
  it('turns a 401 problem into a ProblemError with its fields', async () => {
    const fetch = vi.fn(async () =>
      problem(401, { code: 'unauthenticated', title: 'Unauthorized', detail: 'invalid email or password' }),
    );
    const api = createApiClient({ fetch });
    const err = await catchError(api.login('a@b.c', 'wrong'));
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
    const api = createApiClient({ fetch: async () => problem(403, { title: 'Forbidden', code: 'forbidden' }) });
    const err = await catchError(api.listApps());
    expect(err.displayMessage).toBe('Forbidden');
    expect(err.detail).toBeUndefined();
  });

  it('keeps the field errors of a validation problem', async () => {
    const errors = [
      { field: 'name', code: 'pattern', message: 'must match ^[a-z]…' },
      { field: 'label.zh', code: 'required', message: 'required' },
    ];
    const api = createApiClient({
      getToken: () => 'tok',
      fetch: async () => problem(422, { code: 'validation_failed', detail: 'invalid app', errors }),
    });
    const err = await catchError(api.createApp({ name: 'Bad', label: { zh: '', en: 'x' } }));
    expect(err.status).toBe(422);
    expect(err.code).toBe('validation_failed');
    expect(err.errors).toEqual(errors);
  });

  it('normalises a non-JSON error body (e.g. a proxy page)', async () => {
    const api = createApiClient({
      fetch: async () =>
        new Response('<html>Bad Gateway</html>', {
          status: 502,
          statusText: 'Bad Gateway',
          headers: { 'Content-Type': 'text/html' },
        }),
    });
    const err = await catchError(api.listApps());
    expect(err.status).toBe(502);
    expect(err.code).toBe('http_502');
    expect(err.title).toBe('Bad Gateway');
  });

  it('reports a network failure as status 0', async () => {
    const api = createApiClient({
      fetch: async () => {
        throw new TypeError('Failed to fetch');
      },
    });
    const err = await catchError(api.me());
    expect(err.status).toBe(0);
    expect(err.code).toBe(NETWORK_ERROR);
    expect(err.detail).toBe('Failed to fetch');
  });

  it('aborts and reports a request that takes too long', async () => {
    const fetch = (_: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    const api = createApiClient({ fetch, timeoutMs: 20 });
    const err = await catchError(api.listApps());
    expect(err.code).toBe(TIMEOUT);
  });

  it('rethrows the caller’s own abort untouched', async () => {
    const ctrl = new AbortController();
    const fetch = (_: RequestInfo | URL, init?: RequestInit) =>
      new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    const api = createApiClient({ fetch });
    const p = api.listApps(ctrl.signal);
    ctrl.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('calls onUnauthorized only for requests that carried a token', async () => {
    const onUnauthorized = vi.fn();
    let token: string | null = null;
    const api = createApiClient({
      getToken: () => token,
      onUnauthorized,
      fetch: async () => problem(401, { code: 'unauthenticated' }),
    });
    await catchError(api.me());
    expect(onUnauthorized).not.toHaveBeenCalled();
    token = 'expired';
    await catchError(api.me());
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    expect(onUnauthorized.mock.calls[0][0]).toBeInstanceOf(ProblemError);
    // login never sends the token, so a wrong password is not a lost session
    await catchError(api.login('a@b.c', 'x'));
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
    const fetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) =>
      jsonResponse(200, { data: [{ name: 'crm' }] }),
    );
    const api = createApiClient({ getToken: () => 'tok123', fetch });
    const apps = await api.listApps();
    expect(apps).toEqual([{ name: 'crm' }]);
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('/api/v1/apps');
    expect((init?.headers as Record<string, string>).Authorization).toBe('Bearer tok123');

    fetch.mockResolvedValueOnce(jsonResponse(201, { name: 'crm2' }));
    await api.createApp({ name: 'crm2', label: { zh: '客户', en: 'CRM' } });
    const [url2, init2] = fetch.mock.calls[1];
    expect(url2).toBe('/api/v1/apps');
    expect(init2?.method).toBe('POST');
    expect((init2?.headers as Record<string, string>)['Content-Type']).toBe('application/json');
    expect(JSON.parse(init2?.body as string)).toEqual({ name: 'crm2', label: { zh: '客户', en: 'CRM' } });
  });

  it('does not send the token to the login endpoint', async () => {
    const fetch = vi.fn(async (_url: RequestInfo | URL, _init?: RequestInit) =>
      jsonResponse(200, { token: 't', user: { id: '1' } }),
    );
    const api = createApiClient({ getToken: () => 'old', fetch });
    await api.login('a@b.c', 'pw');
    const init = fetch.mock.calls[0][1];
    expect((init?.headers as Record<string, string>).Authorization).toBeUndefined();
    expect(JSON.parse(init?.body as string)).toEqual({ email: 'a@b.c', password: 'pw' });
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
