import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient, TOKEN_KEY } from './api';
import { App } from './App';
import { AuthProvider } from './auth';
import { I18nProvider } from './i18n';
import type { Lang } from './i18n';

const user = { id: 'u1', email: 'admin@example.com', name: 'Admin', tenant_id: 't1', is_admin: true };
const crm = {
  name: 'crm',
  label: { zh: '客户管理', en: 'CRM' },
  description: null,
  version: 3,
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-02T00:00:00Z',
  entities: [
    {
      name: 'customer',
      label: { zh: '客户', en: 'Customer' },
      fields: [
        { name: 'name', label: { zh: '名称', en: 'Name' }, type: 'text' },
        { name: 'rep', label: { zh: '负责人', en: 'Rep' }, type: 'user' },
      ],
    },
  ],
  views: [
    { name: 'roomy', label: { zh: '宽松', en: 'Roomy' }, entity: 'customer', type: 'grid', row_height: 'tall' },
    {
      name: 'audit',
      label: { zh: '审计', en: 'Audit' },
      entity: 'customer',
      type: 'grid',
      columns: [{ field: 'name' }, { field: 'owner' }, { field: 'created_at', width: 200 }],
      sort: [{ field: 'created_at', desc: true }],
    },
  ],
};
const people = [
  { id: 'u1', email: 'admin@example.com', name: 'Admin', is_admin: true, created_at: '2025-01-01T00:00:00Z' },
  { id: 'u2', email: 'wang@example.com', name: '王芳', is_admin: false, created_at: '2025-01-01T00:00:00Z' },
];

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });
}

/** A fake backend at the network boundary: the password is "secret". */
function fakeServer(apps: Array<typeof crm>) {
  return vi.fn(async (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/auth/login') {
      const body = await request.json();
      return body.password === 'secret'
        ? json(200, { token: 'tok', user })
        : json(401, { title: 'Unauthorized', status: 401, code: 'unauthenticated', detail: 'Wrong email or password' });
    }
    const auth = request.headers.get('Authorization');
    if (auth !== 'Bearer tok') return json(401, { title: 'Unauthorized', status: 401, code: 'unauthenticated' });
    if (path === '/api/v1/me') return json(200, { user, tenant: { id: 't1', name: 'Acme' } });
    if (path === '/api/v1/apps' && request.method === 'POST') {
      const body = await request.json();
      if (body.name === 'crm') {
        return json(422, {
          title: 'Unprocessable Entity',
          status: 422,
          code: 'validation_failed',
          detail: 'The app is invalid',
          errors: [{ field: 'name', code: 'duplicate', message: 'name already taken' }],
        });
      }
      const created = { ...crm, name: body.name, label: body.label, entities: [], version: 1 };
      apps.push(created);
      return json(201, created);
    }
    if (path === '/api/v1/apps') return json(200, { data: apps });
    const one = apps.find((a) => path === `/api/v1/apps/${a.name}`);
    if (one) return json(200, one);
    if (path === '/api/v1/data/crm/customer') {
      const q = new URL(request.url).searchParams;
      if (q.get('count') === 'true') return json(200, { data: [], next_cursor: null, total: 1 });
      return json(200, {
        data: [
          { id: 'c1', name: '华东贸易', rep: 'u2', owner: 'u1', created_at: '2025-03-01T08:00:00Z' },
          { id: 'c2', name: '华北物流', rep: 'u2' },
          { id: 'c3', name: '西南建材', rep: 'u1' },
        ],
        next_cursor: null,
        // As the server says with rights=true: c1 and c3 may be changed, c2 not; all deleted.
        ...(q.get('rights') === 'true' ? { rights: { update: ['c1', 'c3'], delete: true } } : {}),
      });
    }
    if (path === '/api/v1/users') return json(200, { data: people });
    return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
  });
}

function renderApp(fetch: (request: Request) => Promise<Response>, lang: Lang = 'en', retryDelay = 0) {
  // Node's Request needs an absolute URL (a browser resolves '' against the page).
  const api = createApiClient({
    baseUrl: 'http://trellis.test',
    fetch,
    getToken: () => localStorage.getItem(TOKEN_KEY),
  });
  return render(
    <MemoryRouter initialEntries={['/']}>
      <I18nProvider lang={lang}>
        <ApiProvider api={api} queryClient={createQueryClient({ defaultOptions: { queries: { retryDelay } } })}>
          <AuthProvider>
            <App />
          </AuthProvider>
        </ApiProvider>
      </I18nProvider>
    </MemoryRouter>,
  );
}

function fillLogin(email: string, password: string) {
  fireEvent.change(screen.getByTestId('login-email'), { target: { value: email } });
  fireEvent.change(screen.getByTestId('login-password'), { target: { value: password } });
  fireEvent.click(screen.getByTestId('login-submit'));
}

describe('login → apps', () => {
  it('shows the problem detail on a failed login, then lists apps after a good one', async () => {
    const fetch = fakeServer([crm]);
    renderApp(fetch);

    fillLogin('admin@example.com', 'nope');
    const alert = await screen.findByTestId('login-error');
    expect(alert.textContent).toContain('Wrong email or password');
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull();

    fillLogin('admin@example.com', 'secret');
    const label = await screen.findByTestId('app-label-crm', {}, { timeout: 3000 });
    expect(label.textContent).toBe('CRM');
    expect(localStorage.getItem(TOKEN_KEY)).toBe('tok');
    expect(screen.getByTestId('user-email').textContent).toBe('admin@example.com');
    expect(screen.getByTestId('app-slug-crm').textContent).toBe('crm');
    expect(screen.getByTestId('app-entities-crm').textContent).toContain('1 entity');
    expect(screen.getByTestId('new-app')).toBeTruthy();
    // The card leads to the app's first entity.
    expect(screen.getByTestId('app-open-crm').getAttribute('href')).toBe('/apps/crm/customer');

    // Switch to Chinese: the label follows.
    fireEvent.click(screen.getByTestId('lang-zh'));
    await waitFor(() => expect(screen.getByTestId('app-label-crm').textContent).toBe('客户管理'));

    // Logout returns to the login page and forgets the token.
    fireEvent.click(screen.getByTestId('logout'));
    await screen.findByTestId('login-page');
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('shows the empty state and goes back to login when the saved token is rejected', async () => {
    localStorage.setItem(TOKEN_KEY, 'tok');
    const fetch = fakeServer([]);
    const view = renderApp(fetch, 'zh');
    const empty = await screen.findByTestId('apps-empty');
    expect(within(empty).getByText('还没有应用')).toBeTruthy();
    view.unmount();

    localStorage.setItem(TOKEN_KEY, 'expired');
    renderApp(fetch, 'zh');
    await screen.findByTestId('login-page');
    expect(screen.getByText('登录已过期，请重新登录')).toBeTruthy();
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull();
  });

  it('lets an admin create an app and shows server field errors on the form', async () => {
    localStorage.setItem(TOKEN_KEY, 'tok');
    renderApp(fakeServer([crm]), 'en');
    fireEvent.click(await screen.findByTestId('new-app'));

    fireEvent.change(await screen.findByTestId('create-label-zh'), { target: { value: '客户' } });
    fireEvent.change(screen.getByTestId('create-label-en'), { target: { value: 'CRM' } });
    // the slug is suggested from the English label
    await waitFor(() => expect((screen.getByTestId('create-name') as HTMLInputElement).value).toBe('crm'));
    fireEvent.click(screen.getByTestId('create-submit'));
    expect(await screen.findByText('name already taken')).toBeTruthy();

    fireEvent.change(screen.getByTestId('create-name'), { target: { value: 'sales_leads' } });
    fireEvent.click(screen.getByTestId('create-submit'));
    const label = await screen.findByTestId('app-label-sales_leads', {}, { timeout: 3000 });
    expect(label.textContent).toBe('CRM');
  });

  it('refreshes the list on demand, and asks a new session for its own data', async () => {
    const apps = [crm];
    const fetch = fakeServer(apps);
    renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    await screen.findByTestId('app-label-crm', {}, { timeout: 3000 });

    // Someone else adds an app: the refresh button shows it.
    apps.push({ ...crm, name: 'hr', label: { zh: '人事', en: 'HR' } });
    fireEvent.click(screen.getByTestId('apps-refresh'));
    expect((await screen.findByTestId('app-label-hr')).textContent).toBe('HR');

    // Nothing cached survives a logout: the next login asks for the apps again.
    const appsRequests = () => fetch.mock.calls.filter(([r]) => new URL(r.url).pathname === '/api/v1/apps').length;
    expect(appsRequests()).toBe(2);
    fireEvent.click(screen.getByTestId('logout'));
    await screen.findByTestId('login-page');
    fillLogin('admin@example.com', 'secret');
    await screen.findByTestId('app-label-hr', {}, { timeout: 3000 });
    expect(appsRequests()).toBe(3);
  });

  it("applies the user's own language on login and remembers a switch for them", async () => {
    localStorage.setItem(TOKEN_KEY, 'tok');
    const server = fakeServer([crm]);
    let language: string | null = 'en-US';
    const puts: unknown[] = [];
    const fetch = vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (path === '/api/v1/me') return json(200, { user, tenant: { id: 't1', name: 'Acme' }, language });
      if (path === '/api/v1/me/preferences' && request.method === 'PUT') {
        const body = (await request.json()) as { language: string };
        puts.push(body);
        language = body.language;
        return json(200, { language });
      }
      return server(request);
    });
    // The browser says Chinese; the user chose English.
    const view = renderApp(fetch, 'zh');
    await waitFor(() => expect(screen.getByTestId('app-label-crm').textContent).toBe('CRM'), { timeout: 3000 });
    expect(puts).toEqual([]);

    // A switch in the header is kept for the user, and stays.
    fireEvent.click(screen.getByTestId('lang-zh'));
    await waitFor(() => expect(puts).toEqual([{ language: 'zh-CN' }]));
    await waitFor(() => expect(screen.getByTestId('app-label-crm').textContent).toBe('客户管理'));
    view.unmount();

    // The next session starts in it, whatever this browser last showed.
    localStorage.setItem('trellis.lang', 'en');
    renderApp(fetch, 'en');
    await waitFor(() => expect(screen.getByTestId('app-label-crm').textContent).toBe('客户管理'), { timeout: 3000 });
  });

  it('keeps the browser language for a user who chose none, and a switch that cannot be saved', async () => {
    localStorage.setItem(TOKEN_KEY, 'tok');
    // The fake server has no preferences: `language` is absent and PUT answers 404.
    renderApp(fakeServer([crm]), 'zh');
    await waitFor(() => expect(screen.getByTestId('app-label-crm').textContent).toBe('客户管理'), { timeout: 3000 });
    fireEvent.click(screen.getByTestId('lang-en'));
    await waitFor(() => expect(screen.getByTestId('app-label-crm').textContent).toBe('CRM'));
  });

  it('retries a server failure twice, then offers to retry, and a 4xx never', async () => {
    localStorage.setItem(TOKEN_KEY, 'tok');
    const server = fakeServer([crm]);
    let meFailures = 3;
    const fetch = vi.fn(async (request: Request) => {
      const path = new URL(request.url).pathname;
      if (path === '/api/v1/me' && meFailures > 0) {
        meFailures -= 1;
        return json(503, { title: 'Unavailable', status: 503, code: 'unavailable', detail: 'database is down' });
      }
      if (path === '/api/v1/apps') {
        return json(403, { title: 'Forbidden', status: 403, code: 'forbidden', detail: 'not yours' });
      }
      return server(request);
    });
    const requests = (path: string) => fetch.mock.calls.filter(([r]) => new URL(r.url).pathname === path).length;
    renderApp(fetch);

    const alert = await screen.findByTestId('session-error');
    expect(alert.textContent).toContain('database is down');
    expect(requests('/api/v1/me')).toBe(3);

    fireEvent.click(within(alert).getByText('Retry'));
    const failed = await screen.findByTestId('apps-error');
    expect(failed.textContent).toContain('not yours');
    expect(requests('/api/v1/me')).toBe(4);
    expect(requests('/api/v1/apps')).toBe(1);
  });

  it('logs in when only /me fails (no tenant name), but not when /me refuses the new token', async () => {
    const server = fakeServer([crm]);
    let me = () => json(503, { title: 'Unavailable', status: 503, code: 'unavailable' });
    const fetch = vi.fn(async (request: Request) =>
      new URL(request.url).pathname === '/api/v1/me' ? me() : server(request),
    );
    const view = renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    await screen.findByTestId('app-label-crm', {}, { timeout: 3000 });
    expect(screen.getByTestId('user-email').textContent).toBe('admin@example.com');
    expect(screen.queryByTestId('tenant-name')).toBeNull();
    view.unmount();
    localStorage.clear();

    me = () => json(401, { title: 'Unauthorized', status: 401, code: 'unauthenticated', detail: 'session ended' });
    renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    expect((await screen.findByTestId('login-error')).textContent).toContain('session ended');
    expect(localStorage.getItem(TOKEN_KEY)).toBeNull();
    expect(screen.queryByTestId('apps-list')).toBeNull();
  });
});

describe('an app', () => {
  it('opens from its card on its first entity: the menu, the columns, the rows and the count', async () => {
    const fetch = fakeServer([crm]);
    renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    fireEvent.click(await screen.findByTestId('app-open-crm', {}, { timeout: 3000 }));

    expect((await screen.findByTestId('nav-entity-customer', {}, { timeout: 5000 })).textContent).toBe('Customer');
    expect((await screen.findByTestId('col-name', {}, { timeout: 5000 })).textContent).toBe('Name');
    await screen.findByText('华东贸易', {}, { timeout: 5000 });
    await waitFor(() => expect(screen.getByTestId('grid-count').textContent).toBe('1 record'));

    // The rows and the count are two requests: the count never holds the rows back.
    const lists = fetch.mock.calls
      .map(([r]) => new URL(r.url))
      .filter((u) => u.pathname === '/api/v1/data/crm/customer')
      .map((u) => Object.fromEntries(u.searchParams));
    expect(lists).toContainEqual({ limit: '100', rights: 'true' });
    expect(lists).toContainEqual({ limit: '1', count: 'true' });

    fireEvent.click(screen.getByTestId('lang-zh'));
    await waitFor(() => expect(screen.getByTestId('col-name').textContent).toBe('名称'));
    expect(screen.getByTestId('nav-entity-customer').textContent).toBe('客户');
    expect(screen.getByTestId('grid-count').textContent).toBe('共 1 条记录');
  });

  it("shows a user cell by the person's name and initial, with one request for all the users", async () => {
    const fetch = fakeServer([crm]);
    renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    fireEvent.click(await screen.findByTestId('app-open-crm', {}, { timeout: 3000 }));
    await screen.findByText('华东贸易', {}, { timeout: 5000 });
    await waitFor(() => expect(document.querySelectorAll('[data-user-id="u2"] .cell-user-name')).toHaveLength(2), { timeout: 5000 });
    const wang = document.querySelector('[data-user-id="u2"]')!;
    expect(wang.querySelector('.cell-user-name')!.textContent).toBe('王芳');
    expect(wang.querySelector('.ant-avatar')!.textContent).toBe('王');
    const admin = document.querySelector('[data-user-id="u1"]')!;
    expect(admin.querySelector('.cell-user-name')!.textContent).toBe('Admin');
    expect(admin.querySelector('.ant-avatar')!.textContent).toBe('A');
    const asked = fetch.mock.calls.map(([r]) => new URL(r.url).pathname);
    expect(asked.filter((p) => p === '/api/v1/users')).toHaveLength(1);
    expect(asked.filter((p) => p.startsWith('/api/v1/users/'))).toEqual([]);
  });

  it("gives a view's rows its row height, and wraps a cell's text over the lines they hold", async () => {
    const fetch = fakeServer([crm]);
    renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    fireEvent.click(await screen.findByTestId('app-open-crm', {}, { timeout: 3000 }));
    await screen.findByText('华东贸易', {}, { timeout: 5000 });
    // The entity's own grid: short rows.
    const plain = document.querySelector<HTMLElement>('.grid-body:not([hidden])')!;
    expect(plain.getAttribute('data-row-height')).toBe('short');
    expect(plain.style.getPropertyValue('--grid-row-height')).toBe('');
    expect(plain.querySelector('.cell-lines')).toBeNull();

    fireEvent.click(await screen.findByTestId('nav-view-roomy'));
    await waitFor(() => expect(screen.getByTestId('grid-title').textContent).toBe('Roomy'), { timeout: 5000 });
    await screen.findByText('华东贸易', {}, { timeout: 5000 });
    const body = document.querySelector<HTMLElement>('.grid-body:not([hidden])')!;
    expect(body.getAttribute('data-row-height')).toBe('tall');
    expect(body.style.getPropertyValue('--grid-row-height')).toBe('88px');
    expect(body.style.getPropertyValue('--grid-row-lines')).toBe('3');
    expect(screen.getByText('华东贸易').closest('.cell-lines')).not.toBeNull();
  });

  it("shows a view's system columns (the owner by name), sorted as the view says", async () => {
    const fetch = fakeServer([crm]);
    renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    fireEvent.click(await screen.findByTestId('app-open-crm', {}, { timeout: 3000 }));
    fireEvent.click(await screen.findByTestId('nav-view-audit', {}, { timeout: 5000 }));
    expect((await screen.findByTestId('col-owner', {}, { timeout: 5000 })).textContent).toBe('Owner');
    expect(screen.getByTestId('col-created_at').textContent).toBe('Created');
    expect(screen.queryByTestId('col-rep')).toBeNull();
    await screen.findByText('华东贸易', {}, { timeout: 5000 });
    await waitFor(() => expect(document.querySelector('[data-col="owner"] .cell-user-name')?.textContent).toBe('Admin'), {
      timeout: 5000,
    });
    const lists = fetch.mock.calls
      .map(([r]) => new URL(r.url))
      .filter((u) => u.pathname === '/api/v1/data/crm/customer' && !u.searchParams.has('count'));
    expect(lists.at(-1)!.searchParams.get('sort')).toBe('-created_at');
  });

  it('edits in place only the rows the server says the caller may change', async () => {
    const fetch = fakeServer([crm]);
    renderApp(fetch);
    fillLogin('admin@example.com', 'secret');
    fireEvent.click(await screen.findByTestId('app-open-crm', {}, { timeout: 3000 }));
    await screen.findByText('华北物流', {}, { timeout: 5000 });
    const cell = (id: string) => document.querySelector(`tr[data-row-id="${id}"] [data-col="name"]`)!;
    expect(cell('c1').getAttribute('data-editable')).toBe('true');
    expect(cell('c3').getAttribute('data-editable')).toBe('true');
    // c2 is outside the caller's update scope: no editor opens on it.
    expect(cell('c2').getAttribute('data-editable')).toBeNull();
    fireEvent.doubleClick(cell('c2'));
    expect(document.querySelector('tr[data-row-id="c2"] .cell-editor')).toBeNull();
  });
});
