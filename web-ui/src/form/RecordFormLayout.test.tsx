// The record form laid out by the entity's form in the definition, with live conditions: a
// field appears when its visible_if becomes true, a required_if marks its field required as the
// user types, and a hidden field neither blocks the save nor is sent.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient, TOKEN_KEY } from '../api';
import { App } from '../App';
import { AuthProvider } from '../auth';
import { I18nProvider, type Lang } from '../i18n';
import { layoutSections } from './layout';

const user = { id: 'u1', email: 'admin@example.com', name: 'Admin', tenant_id: 't1', is_admin: true };
const L = (zh: string, en: string) => ({ zh, en });
const shop = {
  name: 'shop',
  label: L('商店', 'Shop'),
  version: 1,
  created_at: '2025-01-01T00:00:00Z',
  updated_at: '2025-01-02T00:00:00Z',
  entities: [
    {
      name: 'order',
      label: L('订单', 'Order'),
      title_field: 'title',
      fields: [
        { name: 'title', label: L('标题', 'Title'), type: 'text', required: true },
        { name: 'company', label: L('企业客户', 'Company'), type: 'boolean' },
        { name: 'amount', label: L('金额', 'Amount'), type: 'decimal' },
        {
          name: 'vat_no',
          label: L('税号', 'VAT no.'),
          type: 'text',
          required: true,
          visible_if: { field: 'company', op: 'eq', value: true },
        },
        {
          name: 'reason',
          label: L('折扣原因', 'Why the discount'),
          type: 'text',
          required_if: { field: 'amount', op: 'gt', value: 1000 },
        },
        { name: 'note', label: L('备注', 'Note'), type: 'text' },
      ],
    },
  ],
  forms: [
    {
      name: 'main',
      label: L('订单', 'Order'),
      entity: 'order',
      default: true,
      sections: [
        { label: L('基本', 'Basics'), columns: 2, fields: [{ field: 'title', span: 2 }, { field: 'company' }, { field: 'amount' }] },
        { label: L('税务', 'Tax'), columns: 3, fields: [{ field: 'vat_no' }, { field: 'reason', span: 2 }] },
      ],
    },
  ],
};

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });
}

function server() {
  const posts: unknown[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/me') return json(200, { user, tenant: { id: 't1', name: 'Acme' }, app_roles: {} });
    if (path === '/api/v1/apps') return json(200, { data: [shop] });
    if (path === '/api/v1/apps/shop') return json(200, shop);
    if (path === '/api/v1/users') return json(200, { data: [{ ...user, created_at: '2025-01-01T00:00:00Z' }] });
    if (path === '/api/v1/data/shop/order' && request.method === 'POST') {
      const body = await request.json();
      posts.push(body);
      return json(201, { id: 'r1', version: 1, ...body });
    }
    return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
  });
  return { fetch, posts };
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

const field = (name: string) => screen.getByTestId(`field-${name}`);

describe('the record form layout', () => {
  it('places fields by sections and columns, the unplaced ones last', () => {
    const items = ['title', 'company', 'amount', 'vat_no', 'reason', 'note', 'owner'];
    const s = layoutSections(shop.forms[0], items, (x) => x, () => false);
    expect(s.map((x) => [x.key, x.columns, x.items.map((p) => `${p.item}:${p.span}`)])).toEqual([
      ['s0', 2, ['title:2', 'company:1', 'amount:1']],
      ['s1', 3, ['vat_no:1', 'reason:2']],
      ['rest', 2, ['note:1', 'owner:1']],
    ]);
    // Without a form: every field, two columns, wide ones across.
    const g = layoutSections(undefined, items, (x) => x, (x) => x === 'note');
    expect(g).toHaveLength(1);
    expect(g[0].items.find((p) => p.item === 'note')?.span).toBe(2);
  });

  it('renders the sections, shows a field when its condition holds and requires one as the user types', async () => {
    const s = server();
    renderAt('/apps/shop/order/new', s.fetch, 'en');
    await waitFor(() => expect(field('title')).toBeTruthy(), { timeout: 5000 });
    const basics = screen.getByTestId('form-section-s0');
    expect(basics.textContent).toContain('Basics');
    expect(within(basics).getByTestId('field-title').className).toContain('ant-col-md-24');
    expect(within(basics).getByTestId('field-amount').className).toContain('ant-col-md-12');
    expect(screen.getByTestId('form-section-rest').textContent).toContain('Other');
    expect(within(screen.getByTestId('form-section-rest')).getByTestId('field-note')).toBeTruthy();
    expect(within(screen.getByTestId('form-section-s1')).getByTestId('field-reason').className).toContain('ant-col-md-16');

    // Hidden until the order is a company's.
    expect(screen.queryByTestId('field-vat_no')).toBeNull();
    fireEvent.click(within(field('company')).getByRole('checkbox'));
    await waitFor(() => expect(screen.getByTestId('field-vat_no')).toBeTruthy());
    expect(field('vat_no').querySelector('.ant-form-item-required')).not.toBeNull();
    fireEvent.click(within(field('company')).getByRole('checkbox'));
    await waitFor(() => expect(screen.queryByTestId('field-vat_no')).toBeNull());

    // Required above 1,000, live.
    expect(field('reason').querySelector('.ant-form-item-required')).toBeNull();
    fireEvent.change(within(field('amount')).getByRole('spinbutton'), { target: { value: '1500' } });
    await waitFor(() => expect(field('reason').querySelector('.ant-form-item-required')).not.toBeNull());
    fireEvent.change(within(field('title')).getByRole('textbox'), { target: { value: 'Big order' } });
    fireEvent.click(screen.getByTestId('form-save'));
    await waitFor(() => expect(field('reason').textContent).toContain('Required'), { timeout: 5000 });
    expect(s.posts).toEqual([]);

    // Below it the hidden, required VAT number does not block the save, and is not sent.
    fireEvent.change(within(field('amount')).getByRole('spinbutton'), { target: { value: '500' } });
    fireEvent.click(screen.getByTestId('form-save'));
    await waitFor(() => expect(s.posts).toHaveLength(1), { timeout: 5000 });
    expect(s.posts[0]).toEqual({ title: 'Big order', amount: 500, company: false });
  }, 30_000);
});
