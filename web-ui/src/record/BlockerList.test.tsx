// What blocks a move, as the page lists it: each blocker of `blocked_by` (or of a 409's `errors`)
// with its kind, in the user's language, a field to fill linking to the form.
import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import type { EntityDef } from '../api';
import { I18nProvider, translate, type Lang } from '../i18n';
import { BlockerList } from './BlockerList';
import { blockerKind, showBlocker } from './blockers';

const L = (zh: string, en: string) => ({ zh, en });
const deal = {
  name: 'deal',
  label: L('商机', 'Deal'),
  fields: [{ name: 'amount', label: L('金额', 'Amount'), type: 'currency' }],
} as EntityDef;

// As `…/transitions` and a 409 `transition_blocked` name them.
const blockers = [
  { field: 'amount', code: 'required', message: 'Amount must be filled', messages: L('必须填写：金额', 'Amount must be filled') },
  {
    field: 'attachments.signed_receipt',
    code: 'attachment_required',
    message: 'Signed receipt: at least 1 file(s) must be attached',
    messages: L('需要附件：签收单', 'attachment required: Signed receipt'),
  },
  { field: 'conditions.has_amount', code: 'condition_failed', message: 'Quote an amount first', messages: L('请先填写报价金额', 'Quote an amount first') },
  { field: 'stage', code: 'pending_approval', message: "the record waits for approval of its move to 'won'" },
  { field: 'requirements', code: 'hidden_requirement', message: 'a condition on a field you cannot see is not met' },
];

function show(lang: Lang, editHref?: string) {
  return render(
    <MemoryRouter>
      <I18nProvider lang={lang}>
        <BlockerList blockers={blockers} entity={deal} editHref={editHref} testId="blockers" />
      </I18nProvider>
    </MemoryRouter>,
  );
}

const rows = () =>
  [...screen.getByTestId('blockers').querySelectorAll('.blocker')].map((li) => [
    li.getAttribute('data-kind'),
    li.querySelector('.blocker-kind')?.textContent,
    li.querySelector('.blocker-text')?.textContent,
  ]);

describe('the blocked-move list', () => {
  it('names every blocker with its kind, in Chinese', () => {
    show('zh', '/apps/crm/deal/r1/edit');
    expect(rows()).toEqual([
      ['field', '字段', '必须填写：金额'],
      ['attachment', '附件', '需要附件：签收单'],
      ['condition', '条件', '请先填写报价金额'],
      ['approval', '审批', '正在等待审批'],
      ['hidden', '受限', '有你无权查看的数据不满足条件'],
    ]);
    // The field to fill leads to the form; nothing else does.
    expect(screen.getByTestId('blocker-fix-amount').getAttribute('href')).toBe('/apps/crm/deal/r1/edit');
    expect(screen.getAllByText('去填写')).toHaveLength(1);
  });

  it('in English, without a link for a caller who may not edit', () => {
    show('en');
    expect(rows().map((r) => r[2])).toEqual([
      'Amount must be filled',
      'attachment required: Signed receipt',
      'Quote an amount first',
      'An approval is pending',
      'A condition on data you cannot see is not met',
    ]);
    expect(screen.queryByTestId('blocker-fix-amount')).toBeNull();
  });

  it('classifies what the server sends, a comment and an unknown code included', () => {
    expect(blockers.map(blockerKind)).toEqual(['field', 'attachment', 'condition', 'approval', 'hidden']);
    expect(blockerKind({ field: 'comment', code: 'required', message: 'this transition needs a comment' })).toBe('comment');
    const t = (k: Parameters<typeof translate>[1], v?: Record<string, string | number>) => translate('en', k, v);
    expect(showBlocker({ field: 'to', code: 'no_transition', message: 'there is no transition' }, deal, 'en', t)).toEqual({
      kind: 'other',
      text: 'there is no transition',
    });
    // A field the caller's definition lacks is named as the server names it.
    expect(showBlocker({ field: 'budget', code: 'required', message: '' }, deal, 'zh', t).text).toBe('budget must be filled');
  });
});
