// The grid grouped by a datetime field against a fake server at the client boundary: opening a
// group lists the records of the period in the zone the aggregate answered it counted in.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient, type EntityDef, type FieldDef } from '../api';
import { I18nProvider, translate } from '../i18n';
import { GroupedGrid } from './GroupedGrid';

const L = (zh: string, en: string) => ({ zh, en });
const at = { name: 'at', label: L('时间', 'At'), type: 'datetime' } as FieldDef;
const deal = { name: 'deal', label: L('商机', 'Deal'), fields: [at] } as EntityDef;

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('a datetime group', () => {
  it("lists its rows by the days of the tenant's zone, as the aggregate counted them", async () => {
    const lists: unknown[] = [];
    const fetch = vi.fn(async (request: Request) => {
      const url = new URL(request.url);
      if (url.pathname === '/api/v1/data/crm/deal/aggregate') {
        // The tenant's zone is Shanghai: the server bucketed February there.
        return json(200, {
          groups: [{ key: { at: '2026-02-01' }, measures: { count: 1 } }],
          truncated: false,
          time_zone: 'Asia/Shanghai',
        });
      }
      if (url.pathname === '/api/v1/data/crm/deal') {
        lists.push(JSON.parse(url.searchParams.get('filter') ?? 'null'));
        return json(200, { data: [{ id: 'r1', at: '2026-01-31T17:00:00Z', version: 1 }], next_cursor: null });
      }
      return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
    });
    const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
    render(
      <MemoryRouter>
        <I18nProvider lang="en">
          <ApiProvider api={api} queryClient={createQueryClient()}>
            <GroupedGrid
              app="crm"
              entity={deal}
              spec={{ field: 'at', unit: 'month' }}
              fields={[at]}
              options={{}}
              columns={[{ key: 'at', dataIndex: 'at', title: 'At' }]}
              scrollX={400}
              ctx={{ lang: 'en', t: (k) => translate('en', k), app: 'crm', entities: [deal] }}
              onOpen={() => {}}
            />
          </ApiProvider>
        </I18nProvider>
      </MemoryRouter>,
    );
    fireEvent.click(await screen.findByTestId('group-head', {}, { timeout: 5000 }));
    await waitFor(() => expect(lists).toHaveLength(1), { timeout: 5000 });
    expect(lists[0]).toEqual({
      and: [
        { field: 'at', op: 'gte', value: '2026-01-31T16:00:00Z' },
        { field: 'at', op: 'lt', value: '2026-02-28T16:00:00Z' },
      ],
    });
  });
});
