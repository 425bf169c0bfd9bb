// The bulk bar: its buttons follow the caller's rights (/me's roles), and a refused bulk
// request (all or nothing) lists its errors against the rows it names.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useState } from 'react';
import { App as AntApp } from 'antd';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient, type App } from '../api';
import type { Caller } from '../apps/rights';
import { I18nProvider } from '../i18n';
import type { BulkErrors } from './bulk';
import { BulkBar } from './BulkBar';
import type { RecordRights } from './rowRights';

const app = {
  name: 'crm',
  label: { zh: '客户', en: 'CRM' },
  entities: [
    {
      name: 'deal',
      label: { zh: '商机', en: 'Deals' },
      title_field: 'title',
      fields: [
        { name: 'title', label: { zh: '标题', en: 'Title' }, type: 'text' },
        { name: 'score', label: { zh: '评分', en: 'Score' }, type: 'integer' },
      ],
    },
  ],
  roles: [
    { name: 'editor', permissions: { deal: { read: true, update: true } } },
    { name: 'cleaner', permissions: { deal: { read: true, delete: true } } },
  ],
} as unknown as App;

const rows = [
  { id: 'r1', title: 'Deal A', version: 1 },
  { id: 'r2', title: 'Deal B', version: 4 },
];

function show(role: string, fetch: (r: Request) => Promise<Response>, rowRights?: (id: string) => RecordRights | undefined) {
  const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
  const caller: Caller = { user: { is_admin: false }, app_roles: { crm: [role] } };
  function Harness() {
    const [errors, setErrors] = useState<BulkErrors | null>(null);
    return (
      <BulkBar
        app={app}
        entity={app.entities![0]}
        caller={caller}
        selected={rows}
        onClear={() => {}}
        errors={errors}
        onErrors={setErrors}
        rowRights={rowRights}
      />
    );
  }
  return render(
    <MemoryRouter>
      <I18nProvider lang="en">
        <ApiProvider api={api} queryClient={createQueryClient()}>
          <AntApp>
            <Harness />
          </AntApp>
        </ApiProvider>
      </I18nProvider>
    </MemoryRouter>,
  );
}

describe('the bulk bar', () => {
  it('offers edit to a role that updates and delete to one that deletes', () => {
    const none = vi.fn();
    const a = show('editor', none);
    expect(screen.getByTestId('bulk-count').textContent).toBe('2 selected');
    expect(screen.queryByTestId('bulk-edit')).not.toBeNull();
    expect(screen.queryByTestId('bulk-delete')).toBeNull();
    a.unmount();
    show('cleaner', none);
    expect(screen.queryByTestId('bulk-edit')).toBeNull();
    expect(screen.queryByTestId('bulk-delete')).not.toBeNull();
    expect(none).not.toHaveBeenCalled();
  });

  it('deletes after a confirmation and lists a refusal against its row', async () => {
    const bodies: unknown[] = [];
    const fetch = vi.fn(async (request: Request) => {
      bodies.push(await request.json());
      return new Response(
        JSON.stringify({ title: 'Precondition Failed', status: 412, code: 'version_mismatch', detail: 'delete[1]: the record is at version 5' }),
        { status: 412, headers: { 'Content-Type': 'application/problem+json' } },
      );
    });
    show('cleaner', fetch);
    fireEvent.click(screen.getByTestId('bulk-delete'));
    fireEvent.click(await screen.findByText('Delete', { selector: '.ant-modal-confirm-btns button span' }));
    const list = await screen.findByTestId('bulk-errors', {}, { timeout: 5000 });
    expect(bodies).toEqual([{ delete: [{ id: 'r1', version: 1 }, { id: 'r2', version: 4 }] }]);
    await waitFor(() => expect(list.textContent).toContain('Deal B: the record is at version 5'));
    expect(list.textContent).not.toContain('Deal A');
  }, 20_000);

  it('is not offered over rows the server says the caller may not change or delete', () => {
    const none = vi.fn();
    // r2 is outside the editor's update scope (its page said so).
    const rights = (id: string): RecordRights | undefined => (id === 'r2' ? { update: false, delete: false } : { update: true, delete: true });
    const a = show('editor', none, rights);
    expect((screen.getByTestId('bulk-edit') as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByTestId('bulk-not-allowed').textContent).toBe('You may not change 1 of the selected records');
    a.unmount();
    const b = show('cleaner', none, rights);
    expect((screen.getByTestId('bulk-delete') as HTMLButtonElement).disabled).toBe(true);
    expect(screen.getByTestId('bulk-not-allowed').textContent).toBe('You may not delete 1 of the selected records');
    b.unmount();
    // Rows the pages said nothing about: the entity's right decides (and the server checks).
    show('editor', none, () => undefined);
    expect((screen.getByTestId('bulk-edit') as HTMLButtonElement).disabled).toBe(false);
    expect(screen.queryByTestId('bulk-not-allowed')).toBeNull();
    expect(none).not.toHaveBeenCalled();
  });
});
