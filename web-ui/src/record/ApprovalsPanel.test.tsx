// The approvals panel against a fake server at the client boundary: the record's pending
// approvals (not another record's), Approve / Reject for one the caller may decide, a reason
// required to reject, and nothing to decide for a caller who is no approver.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient } from '../api';
import { I18nProvider, type Lang } from '../i18n';
import { ApprovalsPanel } from './ApprovalsPanel';
import type { Approval } from './queries';

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });
}

const approval = (id: string, record: string, extra: Partial<Approval> = {}): Approval => ({
  id,
  record,
  from: 'negotiation',
  to: 'won',
  status: 'pending',
  requested_by: 'u1',
  requested_at: '2026-03-03T09:00:00Z',
  comment: '合同已谈妥',
  evidence: [],
  policy: { roles: ['manager'] },
  votes: [],
  ...extra,
});

function server({ decides }: { decides: boolean }) {
  let pending = [
    approval('a1', 'r1', { votes: [{ user: 'u3', decision: 'approve', comment: '可以', at: '2026-03-03T09:30:00Z' }] }),
    approval('a2', 'r2'),
  ];
  const posts: { path: string; body: unknown }[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    if (url.pathname === '/api/v1/approvals' && request.method === 'GET') {
      expect(url.searchParams.get('status')).toBe('pending');
      const mine = url.searchParams.get('mine') === 'true';
      return json(200, { data: mine && !decides ? [] : pending });
    }
    const m = /^\/api\/v1\/approvals\/(\w+)\/(approve|reject)$/.exec(url.pathname);
    if (m && request.method === 'POST') {
      const body = await request.json();
      posts.push({ path: url.pathname, body });
      if (m[2] === 'reject' && !body.comment) {
        return json(422, { title: 'Unprocessable', status: 422, code: 'validation_failed', errors: [{ field: 'comment', code: 'required', message: 'give a reason' }] });
      }
      const decided = { ...pending.find((a) => a.id === m[1])!, status: m[2] === 'approve' ? 'approved' : 'rejected' };
      pending = pending.filter((a) => a.id !== m[1]);
      return json(200, decided);
    }
    return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
  });
  return { fetch, posts };
}

function show(fetch: (r: Request) => Promise<Response>, lang: Lang) {
  const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
  const labels: Record<string, string> = { negotiation: '商务洽谈', won: '赢单' };
  const names: Record<string, string> = { u1: '李雷', u3: '王经理' };
  return render(
    <MemoryRouter>
      <I18nProvider lang={lang}>
        <ApiProvider api={api} queryClient={createQueryClient({ defaultOptions: { queries: { retryDelay: 0 } } })}>
          <ApprovalsPanel
            app="crm"
            entity="deal"
            record="r1"
            stageLabel={(k) => labels[k] ?? k}
            userName={(id) => names[id] ?? id}
          />
        </ApiProvider>
      </I18nProvider>
    </MemoryRouter>,
  );
}

describe('the approvals panel', () => {
  it("lists the record's pending approval and approves it with a comment", async () => {
    const s = server({ decides: true });
    show(s.fetch, 'zh');
    const item = await screen.findByTestId('approval-a1', {}, { timeout: 5000 });
    expect(screen.queryByTestId('approval-a2')).toBeNull();
    expect(item.textContent).toContain('李雷 申请从“商务洽谈”进入“赢单”');
    expect(item.textContent).toContain('申请说明：合同已谈妥');
    expect(item.textContent).toContain('王经理 已同意');

    fireEvent.click(await within(item).findByTestId('approval-approve'));
    const dialog = await screen.findByTestId('approval-dialog');
    fireEvent.change(within(dialog).getByTestId('approval-comment'), { target: { value: '同意签约' } });
    fireEvent.click(screen.getByTestId('approval-submit'));
    await waitFor(() => expect(s.posts).toEqual([{ path: '/api/v1/approvals/a1/approve', body: { comment: '同意签约' } }]));
    // The decided approval leaves the list.
    await screen.findByText('没有待审批的事项', {}, { timeout: 5000 });
  }, 30_000);

  it('asks for a reason before rejecting', async () => {
    const s = server({ decides: true });
    show(s.fetch, 'en');
    fireEvent.click(await screen.findByTestId('approval-reject', {}, { timeout: 5000 }));
    await screen.findByTestId('approval-dialog');
    fireEvent.click(screen.getByTestId('approval-submit'));
    expect((await screen.findByTestId('approval-reason-required')).textContent).toBe('Give a reason for rejecting');
    expect(s.posts).toEqual([]);
    fireEvent.change(screen.getByTestId('approval-comment'), { target: { value: 'Wrong amount' } });
    fireEvent.click(screen.getByTestId('approval-submit'));
    await waitFor(() => expect(s.posts).toEqual([{ path: '/api/v1/approvals/a1/reject', body: { comment: 'Wrong amount' } }]));
  }, 30_000);

  it('offers no decision to a caller who is no approver', async () => {
    const s = server({ decides: false });
    show(s.fetch, 'en');
    const item = await screen.findByTestId('approval-a1', {}, { timeout: 5000 });
    expect(item.textContent).toContain('李雷 asks to move it from “商务洽谈” to “赢单”');
    await waitFor(() => expect(s.fetch.mock.calls.length).toBeGreaterThanOrEqual(2));
    expect(within(item).queryByTestId('approval-approve')).toBeNull();
    expect(within(item).queryByTestId('approval-reject')).toBeNull();
    // Delegation is one click away.
    expect(screen.getByTestId('approval-delegations').textContent).toBe('Let someone decide for me');
  }, 30_000);
});
