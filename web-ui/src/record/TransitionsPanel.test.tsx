// The moves of a record against a fake server at the client boundary: a blocked move lists its
// blockers and sends nothing, a required comment is asked for, a 412 names what changed and
// moves the new version, whose 409 shows the server's blockers the same way.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient, type EntityDef } from '../api';
import { I18nProvider } from '../i18n';
import type { NextMoves } from './queries';
import { TransitionsPanel } from './TransitionsPanel';

const L = (zh: string, en: string) => ({ zh, en });
const deal = {
  name: 'deal',
  label: L('商机', 'Deal'),
  title_field: 'title',
  fields: [
    { name: 'title', label: L('标题', 'Title'), type: 'text' },
    { name: 'amount', label: L('金额', 'Amount'), type: 'decimal' },
  ],
} as EntityDef;

const moves: NextMoves = {
  stage: 'new',
  sop: [],
  transitions: [
    {
      to: 'negotiation',
      label: L('商务洽谈', 'Negotiation'),
      kind: 'open',
      allowed: true,
      ready: true,
      blocked_by: [],
      needs_approval: false,
      comment_required: false,
    },
    {
      to: 'won',
      label: L('赢单', 'Won'),
      kind: 'won',
      allowed: true,
      ready: false,
      blocked_by: [{ field: 'conditions.signed', code: 'condition_failed', message: 'Sign first', messages: L('请先签约', 'Sign first') }],
      needs_approval: true,
      comment_required: false,
    },
    {
      to: 'lost',
      label: L('输单', 'Lost'),
      kind: 'lost',
      allowed: true,
      ready: true,
      blocked_by: [],
      needs_approval: false,
      comment_required: true,
    },
    // Not the caller's to make: no button.
    { to: 'archived', label: L('归档', 'Archived'), kind: 'open', allowed: false, ready: false, blocked_by: [], needs_approval: false, comment_required: false },
  ],
};

function json(status: number, body: unknown, headers: Record<string, string> = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json', ...headers },
  });
}

function server() {
  const sent: { body: unknown; ifMatch: string | null }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const path = new URL(request.url).pathname;
    if (path === '/api/v1/data/crm/deal/r1/transition') {
      const ifMatch = request.headers.get('If-Match');
      sent.push({ body: await request.json(), ifMatch });
      if (ifMatch === '"2"') return json(412, { title: 'Precondition Failed', status: 412, code: 'version_mismatch' });
      return json(409, {
        title: 'Conflict',
        status: 409,
        code: 'transition_blocked',
        errors: [{ field: 'amount', code: 'required', message: 'amount must be filled', messages: L('必须填写：金额', 'Amount must be filled') }],
      });
    }
    if (path === '/api/v1/data/crm/deal/r1' && request.method === 'GET') {
      return json(200, { id: 'r1', title: 'Big deal', amount: null, stage: 'new' }, { ETag: '"3"' });
    }
    return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
  });
  return { fetch, sent };
}

function show(fetch: (r: Request) => Promise<Response>) {
  const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
  return render(
    <MemoryRouter>
      <I18nProvider lang="zh">
        <ApiProvider api={api} queryClient={createQueryClient({ defaultOptions: { queries: { retryDelay: 0 } } })}>
          <TransitionsPanel
            app="crm"
            entity={deal}
            current={{ record: { id: 'r1', title: 'Big deal', amount: 5, stage: 'new' }, etag: '"2"' }}
            moves={moves}
            expand={[]}
            editHref="/apps/crm/deal/r1/edit"
          />
        </ApiProvider>
      </I18nProvider>
    </MemoryRouter>,
  );
}

describe('the moves panel', () => {
  it('shows the moves the caller may make, a blocked one with its blockers and no way to send it', () => {
    const s = server();
    show(s.fetch);
    expect(screen.queryByTestId('move-archived')).toBeNull();
    expect((screen.getByTestId('move-button-won') as HTMLButtonElement).disabled).toBe(true);
    expect(within(screen.getByTestId('blockers-won')).getByText('请先签约')).toBeTruthy();
    expect(screen.getByTestId('move-won').textContent).toContain('需审批');
    expect(screen.queryByTestId('blockers-negotiation')).toBeNull();
  });

  it('asks for a required comment before sending', async () => {
    const s = server();
    show(s.fetch);
    fireEvent.click(screen.getByTestId('move-button-lost'));
    await screen.findByTestId('move-dialog');
    fireEvent.click(screen.getByTestId('move-submit'));
    expect((await screen.findAllByText('此流转需要填写说明')).length).toBeGreaterThan(0);
    expect(s.sent).toEqual([]);
  }, 30_000);

  it('names what changed on a 412, moves the new version, and lists the 409 blockers', async () => {
    const s = server();
    show(s.fetch);
    fireEvent.click(screen.getByTestId('move-button-negotiation'));
    await screen.findByTestId('move-dialog');
    fireEvent.change(screen.getByTestId('move-comment'), { target: { value: '客户确认预算' } });
    fireEvent.click(screen.getByTestId('move-submit'));
    await screen.findByTestId('transition-stale', {}, { timeout: 5000 });
    expect(screen.getByTestId('transition-stale-changed').textContent).toBe('对方修改了：金额');
    expect(s.sent).toEqual([{ body: { to: 'negotiation', comment: '客户确认预算' }, ifMatch: '"2"' }]);

    fireEvent.click(screen.getByTestId('transition-stale-retry'));
    const refused = await screen.findByTestId('transition-refused', {}, { timeout: 5000 });
    expect(s.sent[1]).toEqual({ body: { to: 'negotiation', comment: '客户确认预算' }, ifMatch: '"3"' });
    expect(refused.querySelector('.blocker-text')?.textContent).toBe('必须填写：金额');
    expect(within(refused).getByTestId('blocker-fix-amount').getAttribute('href')).toBe('/apps/crm/deal/r1/edit');
    await waitFor(() => expect(screen.queryByTestId('transition-stale')).toBeNull());
  }, 30_000);
});
