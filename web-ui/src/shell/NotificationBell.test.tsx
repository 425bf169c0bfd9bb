// The header's bell against a fake inbox: the unread count on it, the list in the user's
// language with a mention's excerpt, "mark as read", and a click opening the record.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { MemoryRouter, Route, Routes } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient } from '../api';
import { I18nProvider, type Lang } from '../i18n';
import { NotificationBell, notificationHref } from './NotificationBell';

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

const mention = {
  id: 'n1',
  kind: 'mention',
  title: { zh: '李雷 在评论中提到了您', en: 'Li Lei mentioned you in a comment' },
  data: { app: 'crm', entity: 'deal', record: 'r1', comment: 'c1', by: 'u1', excerpt: '@[0190d6a4-0000-7000-8000-00000000000a] 请看一下报价，@[0190d6a4-0000-7000-8000-00000000000b] 也看 @[0190d6a4' },
  at: '2026-03-01T00:00:00Z',
  read_at: null as string | null,
};
const old = { ...mention, id: 'n0', kind: 'rule', title: { zh: '旧通知', en: 'Old one' }, data: {}, read_at: '2026-02-01T00:00:00Z' };

function server() {
  const read: string[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    if (url.pathname === '/api/v1/users') {
      return json(200, { data: [{ id: '0190d6a4-0000-7000-8000-00000000000a', name: '韩梅梅', email: 'h@x.cn', is_admin: false, created_at: '2026-01-01T00:00:00Z' }] });
    }
    if (url.pathname === '/api/v1/notifications') {
      const items = [{ ...mention, read_at: read.includes('n1') ? '2026-03-02T00:00:00Z' : null }, old];
      return json(200, { data: items, unread: read.includes('n1') ? 0 : 1 });
    }
    const m = /^\/api\/v1\/notifications\/(\w+)\/read$/.exec(url.pathname);
    if (m && request.method === 'POST') {
      read.push(m[1]);
      return new Response(null, { status: 204 });
    }
    return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
  });
  return { fetch, read };
}

function show(fetch: (r: Request) => Promise<Response>, lang: Lang) {
  const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
  return render(
    <MemoryRouter initialEntries={['/']}>
      <I18nProvider lang={lang}>
        <ApiProvider api={api} queryClient={createQueryClient()}>
          <Routes>
            <Route path="/" element={<NotificationBell />} />
            <Route path="/apps/crm/deal/r1" element={<div data-testid="record-opened" />} />
          </Routes>
        </ApiProvider>
      </I18nProvider>
    </MemoryRouter>,
  );
}

describe('the notification bell', () => {
  it('counts the unread, lists them and marks one read', async () => {
    const s = server();
    show(s.fetch, 'zh');
    const bell = screen.getByTestId('notif-bell');
    await waitFor(() => expect(bell.getAttribute('data-unread')).toBe('1'));
    fireEvent.click(bell);
    const items = await screen.findAllByTestId('notif-item');
    expect(items.map((i) => i.getAttribute('data-read'))).toEqual(['false', 'true']);
    expect(within(items[0]).getByTestId('notif-title').textContent).toBe('李雷 在评论中提到了您');
    // Mentions in the excerpt read as names (one not known, or cut off, as `@…`).
    await waitFor(() => expect(items[0].textContent).toContain('“@韩梅梅 请看一下报价，@… 也看 @…”'));
    expect(within(items[1]).queryByTestId('notif-mark-read')).toBeNull();
    fireEvent.click(within(items[0]).getByTestId('notif-mark-read'));
    await waitFor(() => expect(bell.getAttribute('data-unread')).toBe('0'));
    expect(s.read).toEqual(['n1']);
  }, 30_000);

  it('opens the record a notification is about', async () => {
    const s = server();
    show(s.fetch, 'en');
    fireEvent.click(screen.getByTestId('notif-bell'));
    const items = await screen.findAllByTestId('notif-item');
    expect(within(items[0]).getByTestId('notif-title').textContent).toBe('Li Lei mentioned you in a comment');
    fireEvent.click(within(items[0]).getByTestId('notif-title'));
    await screen.findByTestId('record-opened');
    await waitFor(() => expect(s.read).toEqual(['n1']));
  }, 30_000);

  it('leads to a record only when it names one', () => {
    expect(notificationHref(mention as never)).toBe('/apps/crm/deal/r1');
    expect(notificationHref(old as never)).toBeNull();
  });
});
