// The record form in the app, against a fake server at the network boundary: an edit sends
// only the changed field with If-Match, a refusal shows at its field in the user's language,
// and a 412 offers the other person's version.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient, TOKEN_KEY } from '../api';
import { App } from '../App';
import { AuthProvider } from '../auth';
import { I18nProvider, type Lang } from '../i18n';
import { draftKey } from './drafts';

const user = { id: 'u1', email: 'admin@example.com', name: 'Admin', tenant_id: 't1', is_admin: true };
const L = (zh: string, en: string) => ({ zh, en });
const crm = {
  name: 'crm',
  label: L('客户管理', 'CRM'),
  version: 1,
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-02T00:00:00Z',
  entities: [
    {
      name: 'deal',
      label: L('商机', 'Deal'),
      title_field: 'title',
      fields: [
        { name: 'title', label: L('标题', 'Title'), type: 'text', required: true },
        { name: 'probability', label: L('概率', 'Probability'), type: 'integer' },
      ],
    },
  ],
};

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

/** `rights`: what the server says the caller may do with the record (asked with rights=true). */
function server(rights = { update: true, delete: true }) {
  let record = { id: 'r1', title: 'Big deal', probability: 50, owner: 'u1' };
  let version = 2;
  const patches: { body: unknown; ifMatch: string | null }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/me') return json(200, { user, tenant: { id: 't1', name: 'Acme' }, app_roles: {} });
    if (path === '/api/v1/apps') return json(200, { data: [crm] });
    if (path === '/api/v1/apps/crm') return json(200, crm);
    if (path === '/api/v1/users') return json(200, { data: [{ ...user, created_at: '2025-01-01T00:00:00Z' }] });
    if (path === '/api/v1/data/crm/deal/r1' && request.method === 'GET') {
      const asked = new URL(request.url).searchParams.get('rights') === 'true';
      return json(200, asked ? { ...record, _rights: rights } : record, { ETag: `"${version}"` });
    }
    if (path === '/api/v1/data/crm/deal/r1' && request.method === 'PATCH') {
      const body = await request.json();
      const ifMatch = request.headers.get('If-Match');
      patches.push({ body, ifMatch });
      if (body.probability > 90) {
        return json(422, {
          title: 'Unprocessable Entity',
          status: 422,
          code: 'validation_failed',
          errors: [
            { field: 'probability', code: 'cap', message: 'too high', messages: L('概率不能超过 90', 'At most 90') },
          ],
        });
      }
      if (ifMatch !== `"${version}"`) return json(412, { title: 'Precondition Failed', status: 412, code: 'stale' });
      record = { ...record, ...body };
      version += 1;
      return json(200, record, { ETag: `"${version}"` });
    }
    return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
  });
  return {
    fetch,
    patches,
    /** Someone else changes the record. */
    change(fields: Partial<typeof record>) {
      record = { ...record, ...fields };
      version += 1;
    },
  };
}

function renderAt(path: string, fetch: (r: Request) => Promise<Response>, lang: Lang) {
  localStorage.setItem(TOKEN_KEY, 'tok');
  const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => localStorage.getItem(TOKEN_KEY) });
  return render(
    <MemoryRouter initialEntries={[path]}>
      <I18nProvider lang={lang}>
        <ApiProvider api={api} queryClient={createQueryClient({ defaultOptions: { queries: { retryDelay: 0 } } })}>
          <AuthProvider>
            <App />
          </AuthProvider>
        </ApiProvider>
      </I18nProvider>
    </MemoryRouter>,
  );
}

const input = (name: string) => within(screen.getByTestId(`field-${name}`)).getByRole(name === 'probability' ? 'spinbutton' : 'textbox') as HTMLInputElement;

describe('the record form', () => {
  it('patches the changed field with If-Match, shows a refusal at its field, and offers their version on a 412', async () => {
    const s = server();
    renderAt('/apps/crm/deal/r1/edit', s.fetch, 'zh');
    await waitFor(() => expect(input('title').value).toBe('Big deal'), { timeout: 5000 });

    fireEvent.change(input('probability'), { target: { value: '95' } });
    fireEvent.click(screen.getByTestId('form-save'));
    await waitFor(() => expect(screen.getByTestId('field-probability').textContent).toContain('概率不能超过 90'), {
      timeout: 5000,
    });
    expect(s.patches).toEqual([{ body: { probability: 95 }, ifMatch: '"2"' }]);
    // The draft keeps the change meanwhile.
    expect(JSON.parse(localStorage.getItem(draftKey('u1', 'crm', 'deal', 'r1'))!).values).toEqual({ probability: 95 });

    s.change({ title: 'Their title' });
    fireEvent.change(input('probability'), { target: { value: '60' } });
    fireEvent.click(screen.getByTestId('form-save'));
    const notice = await screen.findByTestId('form-stale', {}, { timeout: 5000 });
    expect(screen.getByTestId('form-stale-changed').textContent).toBe('对方修改了：标题');
    expect(input('probability').value).toBe('60');

    fireEvent.click(within(notice).getByTestId('form-stale-reload'));
    await waitFor(() => expect(input('title').value).toBe('Their title'));
    expect(input('probability').value).toBe('50');
    expect(localStorage.getItem(draftKey('u1', 'crm', 'deal', 'r1'))).toBeNull();
  }, 30_000);

  it('restores an unsaved change after a reload', async () => {
    localStorage.setItem(draftKey('u1', 'crm', 'deal', 'r1'), JSON.stringify({ values: { title: 'Half typed' }, savedAt: 1 }));
    const s = server();
    renderAt('/apps/crm/deal/r1/edit', s.fetch, 'en');
    await screen.findByTestId('form-draft-restored', {}, { timeout: 5000 });
    await waitFor(() => expect(input('title').value).toBe('Half typed'));
    expect(input('probability').value).toBe('50');
    fireEvent.click(screen.getByTestId('form-discard-draft'));
    await waitFor(() => expect(input('title').value).toBe('Big deal'));
    expect(localStorage.getItem(draftKey('u1', 'crm', 'deal', 'r1'))).toBeNull();
  }, 30_000);

  it("never restores another user's draft, and logging out removes the user's own", async () => {
    // Someone else left an unsaved change to this record in this browser.
    localStorage.setItem(draftKey('u2', 'crm', 'deal', 'r1'), JSON.stringify({ values: { title: 'Not yours' }, savedAt: 1 }));
    const s = server();
    renderAt('/apps/crm/deal/r1/edit', s.fetch, 'en');
    await waitFor(() => expect(input('title').value).toBe('Big deal'), { timeout: 5000 });
    expect(screen.queryByTestId('form-draft-restored')).toBeNull();

    fireEvent.change(input('probability'), { target: { value: '70' } });
    await waitFor(() => expect(localStorage.getItem(draftKey('u1', 'crm', 'deal', 'r1'))).not.toBeNull());
    fireEvent.click(screen.getByTestId('logout'));
    await screen.findByTestId('login-page', {}, { timeout: 5000 });
    expect(localStorage.getItem(draftKey('u1', 'crm', 'deal', 'r1'))).toBeNull();
    // Theirs is theirs to remove.
    expect(localStorage.getItem(draftKey('u2', 'crm', 'deal', 'r1'))).not.toBeNull();
  }, 30_000);

  it('offers no edit of a record outside the caller update scope, as the server says', async () => {
    // The entity's right is there (an administrator here), the record's is not.
    const refused = server({ update: false, delete: false });
    const page = renderAt('/apps/crm/deal/r1', refused.fetch, 'en');
    await screen.findByTestId('record-page', {}, { timeout: 5000 });
    await waitFor(() => expect(screen.getByTestId('value-owner')).toBeTruthy(), { timeout: 5000 });
    expect(screen.queryByTestId('record-edit')).toBeNull();
    page.unmount();

    const form = renderAt('/apps/crm/deal/r1/edit', server({ update: false, delete: false }).fetch, 'en');
    await screen.findByTestId('form-not-allowed', {}, { timeout: 5000 });
    expect(screen.queryByTestId('record-form')).toBeNull();
    form.unmount();

    // Inside the scope: the edit is offered.
    renderAt('/apps/crm/deal/r1', server().fetch, 'en');
    await screen.findByTestId('record-edit', {}, { timeout: 5000 });
  }, 30_000);
});
