import { describe, expect, it, vi } from 'vitest';
import { createApiClient } from '../api';
import { countQuery, pageQuery, sortAfterClick, sortParam } from './listRequest';

describe('the list request', () => {
  it('sends only what is set, with a page size and the rows rights', () => {
    expect(pageQuery({})).toEqual({ limit: 100, rights: true });
    expect(pageQuery({ q: '  ', sort: [], expand: [], cursor: null })).toEqual({ limit: 100, rights: true });
  });

  it('writes sort keys with a minus for descending', () => {
    expect(sortParam([{ field: 'amount', desc: true }, { field: 'title', desc: false }])).toBe('-amount,title');
  });

  it('carries search, sort, fields, expand, filter and cursor', () => {
    expect(
      pageQuery({
        q: ' acme ',
        sort: [{ field: 'amount', desc: true }],
        fields: ['title', 'amount'],
        expand: ['customer', 'owner_org'],
        filter: { status: { eq: 'open' } },
        cursor: 'abc',
        limit: 50,
      }),
    ).toEqual({
      limit: 50,
      q: 'acme',
      sort: '-amount',
      fields: 'title,amount',
      expand: 'customer,owner_org',
      filter: '{"status":{"eq":"open"}}',
      cursor: 'abc',
      rights: true,
    });
  });

  it('counts the same rows apart: one row, count=true, no sort, cursor or expand', () => {
    expect(
      countQuery({ q: 'acme', sort: [{ field: 'amount', desc: true }], expand: ['customer'], cursor: 'abc', filter: { a: 1 } }),
    ).toEqual({ limit: 1, count: true, q: 'acme', filter: '{"a":1}' });
  });

  it('becomes this URL through the client', async () => {
    const urls: string[] = [];
    const fetch = vi.fn(async (request: Request) => {
      urls.push(request.url);
      return new Response(JSON.stringify({ data: [], next_cursor: null }), {
        headers: { 'Content-Type': 'application/json' },
      });
    });
    const api = createApiClient({ baseUrl: 'http://trellis.test', fetch });
    await api.GET('/api/v1/data/{app}/{entity}', {
      params: {
        path: { app: 'crm', entity: 'deal' },
        query: pageQuery({ q: '华东 acme', sort: [{ field: 'amount', desc: true }], expand: ['customer'], cursor: 'c/1+2' }),
      },
    });
    await api.GET('/api/v1/data/{app}/{entity}', {
      params: { path: { app: 'crm', entity: 'deal' }, query: countQuery({ q: 'x' }) },
    });
    const first = new URL(urls[0]);
    expect(first.pathname).toBe('/api/v1/data/crm/deal');
    expect(Object.fromEntries(first.searchParams)).toEqual({
      limit: '100',
      q: '华东 acme',
      sort: '-amount',
      expand: 'customer',
      cursor: 'c/1+2',
      rights: 'true',
    });
    expect(Object.fromEntries(new URL(urls[1]).searchParams)).toEqual({ limit: '1', count: 'true', q: 'x' });
  });
});

describe('sorting by several columns', () => {
  const a = { field: 'status', desc: false };
  const b = { field: 'amount', desc: true };
  it('a plain click sorts by that column alone', () => {
    expect(sortAfterClick([a, b], 'title', 'ascend', false)).toEqual([{ field: 'title', desc: false }]);
    expect(sortAfterClick([a, b], 'status', null, false)).toEqual([]);
  });
  it('a shift-click adds the next key, flips one in place or takes it out', () => {
    expect(sortAfterClick([a], 'amount', 'descend', true)).toEqual([a, b]);
    expect(sortAfterClick([a, b], 'status', 'descend', true)).toEqual([{ field: 'status', desc: true }, b]);
    expect(sortAfterClick([a, b], 'status', null, true)).toEqual([b]);
    expect(sortParam(sortAfterClick([a], 'amount', 'descend', true))).toBe('status,-amount');
  });
  it('keeps at most five keys', () => {
    const five = ['a', 'b', 'c', 'd', 'e'].map((field) => ({ field, desc: false }));
    expect(sortAfterClick(five, 'f', 'ascend', true)).toEqual(five);
  });
});
