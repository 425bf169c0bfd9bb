import { hashKey } from '@tanstack/react-query';
import { describe, expect, it, vi } from 'vitest';
import { createApiClient, createQueryClient, type App } from '../api';
import { entityTarget, firstListOptions, viewTarget } from './gridList';
import { countQueryOptions, pageKey } from './listQueries';
import { gridAddress, prefetchForAddress } from './prefetch';

const label = (en: string) => ({ zh: en, en });
const sales = {
  name: 'sales',
  label: label('Sales'),
  entities: [
    {
      name: 'deal',
      label: label('Deals'),
      fields: [
        { name: 'title', label: label('Title'), type: 'text' },
        { name: 'customer', label: label('Customer'), type: 'relation', target: 'customer' },
        { name: 'contract', label: label('Contract'), type: 'relation', target: 'contract' },
        { name: 'amount', label: label('Amount'), type: 'currency' },
      ],
    },
    { name: 'customer', label: label('Customers'), fields: [{ name: 'name', label: label('Name'), type: 'text' }] },
    { name: 'contract', label: label('Contracts'), fields: [{ name: 'no', label: label('No'), type: 'text' }] },
  ],
  roles: [
    { name: 'rep', label: label('Rep'), permissions: { deal: { read: true }, customer: { read: true } } },
  ],
  views: [
    { name: 'mine', label: label('Mine'), entity: 'deal', type: 'grid', sort: [{ field: 'amount', desc: true }], filter: { field: 'owner', op: 'eq', value: '$user.id' } },
    { name: 'all', label: label('All'), entity: 'deal', type: 'grid', default: true, columns: [{ field: 'title' }, { field: 'contract' }] },
  ],
} as unknown as App;
const rep = { user: { id: 'u7', is_admin: false }, app_roles: { sales: ['rep'] } };

describe('the list a grid asks for first', () => {
  it('is the view’s sort, its columns’ readable relations and its filter, `$user.id` left to the server', () => {
    const { entity, view } = viewTarget(sales, rep, 'mine');
    expect(firstListOptions(sales, entity!, view, rep)).toEqual({
      q: '',
      sort: [{ field: 'amount', desc: true }],
      // The contract is not the rep's to read: an id, not expanded.
      expand: ['customer'],
      filter: { field: 'owner', op: 'eq', value: '$user.id' },
    });
    // The entity's page opens its default view, with that view's columns.
    const at = entityTarget(sales, rep, 'deal');
    expect(at.view?.name).toBe('all');
    expect(firstListOptions(sales, at.entity!, at.view, { user: { is_admin: true } })).toEqual({
      q: '',
      sort: [],
      expand: ['contract'],
      filter: undefined,
    });
    expect(entityTarget(sales, rep, 'contract').entity).toBeUndefined();
  });

  it('is named by the address of an entity or a shared view', () => {
    expect(gridAddress('/apps/sales/deal')).toEqual({ app: 'sales', entity: 'deal' });
    expect(gridAddress('/apps/sales/views/mine')).toEqual({ app: 'sales', view: 'mine' });
    expect(gridAddress('/apps/sales%20x/deal%20y')).toEqual({ app: 'sales x', entity: 'deal y' });
    expect(gridAddress('/apps/sales')).toEqual({ app: 'sales' });
    expect(gridAddress('/apps/sales/my/v1')).toEqual({ app: 'sales' });
    expect(gridAddress('/apps/sales/deal/d1')).toEqual({ app: 'sales' });
    expect(gridAddress('/')).toBeNull();
  });
});

function json(body: unknown) {
  return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
}

describe('the cold load at a grid’s address', () => {
  it('asks for the grid’s first page and its total as the grid will, once /me and the app are in', async () => {
    const asked: string[] = [];
    const fetch = vi.fn(async (request: Request) => {
      const url = new URL(request.url);
      asked.push(url.pathname + url.search);
      if (url.pathname === '/api/v1/me') return json({ user: { id: 'u7', is_admin: false }, tenant: null, app_roles: { sales: ['rep'] } });
      if (url.pathname === '/api/v1/apps/sales') return json(sales);
      if (url.searchParams.get('count') === 'true') return json({ data: [], next_cursor: null, total: 42 });
      return json({ data: [{ id: 'd1', title: 'Deal 1' }], next_cursor: 'c2' });
    });
    const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
    const qc = createQueryClient();
    await prefetchForAddress(qc, api, '/apps/sales/views/mine');

    const { entity, view } = viewTarget(sales, rep, 'mine');
    const options = firstListOptions(sales, entity!, view, rep);
    const page = qc.getQueryCache().find({ queryKey: pageKey('sales', 'deal', options, 0), exact: true });
    expect(page?.queryHash).toBe(hashKey(pageKey('sales', 'deal', options, 0)));
    expect(page?.state.data).toEqual({ data: [{ id: 'd1', title: 'Deal 1' }], next_cursor: 'c2' });
    await vi.waitFor(() => expect(qc.getQueryData(countQueryOptions(api, 'sales', 'deal', options).queryKey)).toBe(42));
    const filter = encodeURIComponent(JSON.stringify({ field: 'owner', op: 'eq', value: '$user.id' }));
    expect(asked.slice(2)).toEqual([
      `/api/v1/data/sales/deal?limit=100&sort=-amount&expand=customer&filter=${filter}&rights=true`,
      `/api/v1/data/sales/deal?limit=1&count=true&filter=${filter}`,
    ]);
  });

  it('asks only for /me elsewhere, and does not hold the page', async () => {
    const fetch = vi.fn(async (_request: Request) => json({ user: { id: 'u7', is_admin: false }, tenant: null }));
    const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
    expect(prefetchForAddress(createQueryClient(), api, '/')).toBeNull();
    await vi.waitFor(() => expect(fetch).toHaveBeenCalledTimes(1));
    expect(new URL(fetch.mock.calls[0][0].url).pathname).toBe('/api/v1/me');
  });
});
