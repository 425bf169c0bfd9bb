// Inline edit against a fake server at the client boundary: which cells edit in place, the
// PATCH of one field with the row's version as If-Match, the row read back into every cached
// page, a refusal's message at the cell in the user's language, and a stale row (412) reloaded.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient, type EntityDef, type FieldDef } from '../api';
import { I18nProvider, translate, type Lang } from '../i18n';
import InlineEditor from './InlineEditor';
import { editableInPlace, saveCell, type CellSave } from './inlineEdit';
import { recordKeys } from './queries';
import { hasRight, readOnlyFields } from '../apps/rights';
import type { RecordRow } from './listRequest';

const L = (zh: string, en: string) => ({ zh, en });
const title = { name: 'title', label: L('标题', 'Title'), type: 'text', max_length: 20 } as FieldDef;
const score = { name: 'score', label: L('评分', 'Score'), type: 'integer', max: 10 } as FieldDef;
const deal = { name: 'deal', label: L('商机', 'Deal'), fields: [title, score] } as EntityDef;

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

/** A record at version 3 whose score may not pass 10; `changedMeanwhile` makes it version 4 first. */
function server({ changedMeanwhile = false } = {}) {
  let stored: RecordRow = { id: 'r1', title: '旧标题', score: 5, version: changedMeanwhile ? 4 : 3 };
  const patches: { body: unknown; ifMatch: string | null }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    if (url.pathname !== '/api/v1/data/crm/deal/r1') return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
    if (request.method === 'GET') {
      expect(url.searchParams.get('expand')).toBe('customer');
      return json(200, stored, { ETag: `"${stored.version}"` });
    }
    const body = (await request.json()) as Record<string, unknown>;
    const ifMatch = request.headers.get('If-Match');
    patches.push({ body, ifMatch });
    if (ifMatch !== `"${stored.version}"`) return json(412, { title: 'Precondition Failed', status: 412, code: 'precondition_failed' });
    if (typeof body.score === 'number' && body.score > 10) {
      return json(422, { title: 'Validation failed', status: 422, code: 'validation_failed', errors: [{ field: 'score', code: 'maximum', message: 'must be at most 10' }] });
    }
    stored = { ...stored, ...body, version: Number(stored.version) + 1 };
    return json(200, stored, { ETag: `"${stored.version}"` });
  });
  return { fetch, patches, stored: () => stored };
}

const row: RecordRow = { id: 'r1', title: '旧标题', score: 5, version: 3 };
const t = (lang: Lang) => (k: Parameters<typeof translate>[1], v?: Record<string, string | number>) => translate(lang, k, v);

function setup(fetch: (r: Request) => Promise<Response>) {
  const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
  const qc = createQueryClient();
  const key = recordKeys.list('crm', 'deal', { q: '' });
  qc.setQueryData(key, { pages: [{ data: [row, { id: 'r2', title: '别的', version: 1 }], next_cursor: null }], pageParams: [null] });
  const rows = () => (qc.getQueryData(key) as { pages: { data: RecordRow[] }[] }).pages[0].data;
  return { api, qc, rows };
}

describe('which cells edit in place', () => {
  it('fields the caller may change and the grid has an input for', () => {
    const none = new Set<string>();
    expect(editableInPlace(title, none, true)).toBe(true);
    expect(editableInPlace(score, none, true)).toBe(true);
    expect(editableInPlace(title, none, false)).toBe(false);
    expect(editableInPlace(title, new Set(['title']), true)).toBe(false);
    // A role's read-only field (as /me's roles and the definition give them) is not edited in place;
    // a hidden one is not in the definition the API answers, so it has no cell at all.
    const app = {
      name: 'crm',
      entities: [deal],
      roles: [{ name: 'rep', permissions: { deal: { read: true, update: true, fields: { score: 'read_only' } } } }],
    } as never;
    const rep = { user: { is_admin: false }, app_roles: { crm: ['rep'] } };
    const readOnly = readOnlyFields(app, 'deal', rep);
    expect(editableInPlace(score, readOnly, hasRight(app, 'deal', rep, 'update'))).toBe(false);
    expect(editableInPlace(title, readOnly, hasRight(app, 'deal', rep, 'update'))).toBe(true);
    const viewer = { user: { is_admin: false }, app_roles: { crm: [] } };
    expect(editableInPlace(title, readOnlyFields(app, 'deal', viewer), hasRight(app, 'deal', viewer, 'update'))).toBe(false);
    for (const f of [
      { name: 'total', type: 'decimal', formula: 'a + b' },
      { name: 'files', type: 'attachment' },
      { name: 'raw', type: 'json' },
      { name: 'no', type: 'auto_number' },
    ]) {
      expect(editableInPlace(f as FieldDef, none, true), f.name).toBe(false);
    }
  });
});

describe('saving a cell', () => {
  it('sends the one field with the row version and puts the saved row in the cache', async () => {
    const s = server();
    const { api, qc, rows } = setup(s.fetch);
    const r = await saveCell(api, qc, { app: 'crm', entity: 'deal', row, field: title, value: '新标题', expand: ['customer'] }, 'zh', t('zh'));
    expect(r.ok).toBe(true);
    expect(s.patches).toEqual([{ body: { title: '新标题' }, ifMatch: '"3"' }]);
    expect(rows()[0]).toEqual({ id: 'r1', title: '新标题', score: 5, version: 4 });
    expect(rows()[1].title).toBe('别的');
  });

  it("shows a refusal at the cell in the user's language and changes nothing", async () => {
    const s = server();
    const { api, qc, rows } = setup(s.fetch);
    const opts = { app: 'crm', entity: 'deal', row, field: score, value: 11, expand: ['customer'] };
    expect(await saveCell(api, qc, opts, 'zh', t('zh'))).toEqual({ ok: false, message: '不能大于 10', stale: false });
    expect(await saveCell(api, qc, opts, 'en', t('en'))).toEqual({ ok: false, message: 'Must not be more than 10', stale: false });
    expect(rows()[0]).toEqual(row);
  });

  it('reloads a row someone else changed meanwhile (412) and says so', async () => {
    const s = server({ changedMeanwhile: true });
    const { api, qc, rows } = setup(s.fetch);
    const r = await saveCell(api, qc, { app: 'crm', entity: 'deal', row, field: title, value: '新标题', expand: ['customer'] }, 'en', t('en'));
    expect(r).toEqual({ ok: false, message: 'Someone else just changed this record: its current values are shown, edit it again', stale: true });
    expect(rows()[0].version).toBe(4);
    expect(s.stored().title).toBe('旧标题');
  });
});

describe('the cell editor', () => {
  it('saves on Enter and cancels on Escape', async () => {
    const s = server();
    const { api, qc } = setup(s.fetch);
    const done: (CellSave | null)[] = [];
    const view = (lang: Lang) =>
      render(
        <MemoryRouter>
          <I18nProvider lang={lang}>
            <ApiProvider api={api} queryClient={qc}>
              <InlineEditor app="crm" entity="deal" entities={[deal]} row={row} field={title} expand={['customer']} onDone={(r) => done.push(r)} />
            </ApiProvider>
          </I18nProvider>
        </MemoryRouter>,
      );
    const first = view('zh');
    const input = screen.getByTestId('input-title') as HTMLInputElement;
    expect(input.value).toBe('旧标题');
    await waitFor(() => expect(document.activeElement).toBe(input));
    fireEvent.keyDown(input, { key: 'Escape' });
    expect(done).toEqual([null]);
    first.unmount();

    view('en');
    const again = screen.getByTestId('input-title') as HTMLInputElement;
    fireEvent.change(again, { target: { value: '新标题' } });
    fireEvent.keyDown(again, { key: 'Enter' });
    await waitFor(() => expect(done).toHaveLength(2));
    expect(done[1]).toMatchObject({ ok: true, row: { title: '新标题' } });
    expect(screen.getByLabelText('Save')).toBeTruthy();
  }, 30_000);
});
