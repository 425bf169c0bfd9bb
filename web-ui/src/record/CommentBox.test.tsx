// The comment box against a fake server at the client boundary: `@` and a few letters ask the
// server whom the caller may mention on this record, a picked name is sent as `@[id]`, those
// mentioned but not told are named, and a refused comment says why in the user's language.
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import { ApiProvider, createApiClient, createQueryClient } from '../api';
import { I18nProvider, translate, type Lang } from '../i18n';
import { CommentBox, skippedMentions } from './CommentBox';

const MIA = '0190d6a4-0000-7000-8000-00000000000a';
const OLGA = '0190d6a4-0000-7000-8000-00000000000b';

function json(status: number, body: unknown) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': status >= 400 ? 'application/problem+json' : 'application/json' },
  });
}

function server() {
  const posts: string[] = [];
  const searches: string[] = [];
  const fetch = vi.fn(async (request: Request) => {
    const url = new URL(request.url);
    if (url.pathname === '/api/v1/data/crm/deal/r1/mentionable') {
      const q = url.searchParams.get('q') ?? '';
      searches.push(q);
      return json(200, { data: [{ id: MIA, name: '米娅' }].filter((u) => u.name.includes(q) || q === '') });
    }
    if (url.pathname === '/api/v1/data/crm/deal/r1/comments' && request.method === 'POST') {
      const { body } = (await request.json()) as { body: string };
      posts.push(body);
      if (body.includes('far too long')) {
        return json(422, { title: 'Validation failed', status: 422, code: 'validation_failed', detail: 'body: too long', errors: [{ field: 'body', code: 'too_long', message: 'too long' }] });
      }
      return json(201, {
        comment: { id: 'c1', author: 'u1', author_name: 'me', body, mentions: [], created_at: '2026-03-01T00:00:00Z', can_delete: true },
        mentions: [
          { user: MIA, name: '米娅', notified: true, reason: null },
          ...(body.includes(OLGA) ? [{ user: OLGA, name: 'Olga', notified: false, reason: 'cannot_read' }] : []),
        ],
      });
    }
    return json(404, { title: 'Not Found', status: 404, code: 'not_found' });
  });
  return { fetch, posts, searches };
}

function show(fetch: (r: Request) => Promise<Response>, lang: Lang) {
  const api = createApiClient({ baseUrl: 'http://trellis.test', fetch, getToken: () => 'tok' });
  return render(
    <MemoryRouter>
      <I18nProvider lang={lang}>
        <ApiProvider api={api} queryClient={createQueryClient()}>
          <CommentBox app="crm" entity="deal" id="r1" />
        </ApiProvider>
      </I18nProvider>
    </MemoryRouter>,
  );
}

/** Types `value` one character at a time (the picker opens on the `@` key). */
function typeInto(el: HTMLTextAreaElement, value: string) {
  for (let i = 1; i <= value.length; i++) {
    const v = value.slice(0, i);
    fireEvent.change(el, { target: { value: v } });
    el.setSelectionRange(v.length, v.length);
    fireEvent.keyUp(el, { key: v.slice(-1) });
  }
}

describe('the comment box', () => {
  it('offers whom the server allows and sends a picked name as its id', async () => {
    const s = server();
    show(s.fetch, 'zh');
    const input = screen.getByPlaceholderText('写评论，输入 @ 提及同事') as HTMLTextAreaElement;
    typeInto(input, '请 @米');
    const option = await screen.findByTestId('mention-option', {}, { timeout: 5000 });
    expect(s.searches).toContain('米');
    expect(option.getAttribute('data-user')).toBe(MIA);
    fireEvent.click(option);
    await waitFor(() => expect(input.value).toBe('请 @米娅 '));
    fireEvent.change(input, { target: { value: `请 @米娅 看 @[${OLGA}]` } });
    fireEvent.click(screen.getByTestId('comment-send'));
    await waitFor(() => expect(s.posts).toEqual([`请 @[${MIA}] 看 @[${OLGA}]`]));
    // Olga was mentioned by hand but may not read the record: said so.
    expect((await screen.findByTestId('comment-skipped')).textContent).toContain('Olga 无权查看这条记录');
    await waitFor(() => expect(input.value).toBe(''));
  }, 30_000);

  it('says why a comment was refused, in English', async () => {
    const s = server();
    show(s.fetch, 'en');
    const input = screen.getByPlaceholderText('Write a comment; type @ to mention someone') as HTMLTextAreaElement;
    fireEvent.change(input, { target: { value: 'a comment that is far too long' } });
    fireEvent.click(screen.getByTestId('comment-send'));
    expect((await screen.findByTestId('comment-error')).textContent).toBe('A comment has at most 10000 characters');
    expect(input.value).toBe('a comment that is far too long');
  }, 30_000);

  it('names who was not told, but not the author', () => {
    const t = (k: Parameters<typeof translate>[1], v?: Record<string, string | number>) => translate('en', k, v);
    expect(
      skippedMentions(
        {
          comment: { id: 'c', author: 'a', author_name: 'A', body: '', mentions: [], created_at: '', can_delete: true },
          mentions: [
            { user: 'a', name: 'A', notified: false, reason: 'author' },
            { user: 'b', name: 'B', notified: false, reason: 'disabled' },
            { user: 'x', name: null, notified: false, reason: 'no_such_user' },
            { user: 'c', name: 'C', notified: true, reason: null },
          ],
        },
        t,
      ),
    ).toEqual(['B is disabled', 'There is no user x']);
  });
});
