// The timeline's entries (`…/timeline`): who did what and when, field changes old → new in the
// grid's cells (hidden ones only said), stage moves with the time spent, approvals asked, voted,
// decided, rule runs, a rule's change marked as the rule's, and comments with mentions as names.
import { describe, expect, it } from 'vitest';
import { fireEvent, render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import type { EntityDef } from '../api';
import { I18nProvider, translate, type Lang } from '../i18n';
import { Timeline, type TimelineContext } from './Timeline';
import { commentParts, encodeMentions, type TimelineEntry } from './timeline';

const L = (zh: string, en: string) => ({ zh, en });
const deal = {
  name: 'deal',
  label: L('商机', 'Deal'),
  fields: [
    { name: 'amount', label: L('金额', 'Amount'), type: 'currency', currency: 'CNY' },
    {
      name: 'status',
      label: L('状态', 'Status'),
      type: 'single_select',
      options: [
        { value: 'open', label: L('进行中', 'Open') },
        { value: 'won', label: L('赢单', 'Won') },
      ],
    },
  ],
} as EntityDef;

const users: Record<string, string> = { u1: '李雷', u2: '韩梅梅', u3: '王经理' };
const stages: Record<string, ReturnType<typeof L>> = { new: L('新商机', 'New'), won: L('赢单', 'Won') };

function ctx(lang: Lang): TimelineContext {
  return {
    entity: deal,
    cells: { lang, t: (k) => translate(lang, k), app: 'crm', entities: [deal] },
    userName: (id) => users[id] ?? id,
    stageLabel: (k) => (stages[k] ? stages[k][lang] : k),
    ruleLabel: (r) => (r === 'mark_hot' ? (lang === 'zh' ? '标记为重点' : 'Mark as hot') : r),
  };
}

const base = (id: string, at: string, actor: string | null, via: string | null = 'api') => ({ id, at, actor, via });
const U1 = '0190d6a4-0000-7000-8000-000000000001';
const U2 = '0190d6a4-0000-7000-8000-000000000002';

const history: TimelineEntry[] = [
  { ...base('e1', '2026-03-01T08:00:00Z', 'u1'), type: 'created' },
  {
    ...base('e2', '2026-03-01T09:00:00Z', 'u1'),
    type: 'fields_changed',
    veiled: false,
    changes: [
      { field: 'amount', from: null, to: { amount: 1200.5, currency: 'CNY' } },
      { field: 'status', from: 'open', to: 'won' },
    ],
  },
  {
    ...base('e3', '2026-03-02T09:00:00Z', null, 'rule:mark_hot'),
    type: 'fields_changed',
    veiled: true,
    changes: [{ field: 'amount', from: { amount: 1200.5, currency: 'CNY' }, to: { amount: 900, currency: 'CNY' } }],
  },
  { ...base('e4', '2026-03-03T09:00:00Z', 'u1'), type: 'approval_requested', approval: 'a1', from: 'new', to: 'won', comment: '请审批' },
  { ...base('e5', '2026-03-03T10:00:00Z', 'u2'), type: 'approval_voted', approval: 'a1', decision: 'approve', on_behalf_of: 'u3', comment: '可以' },
  { ...base('e6', '2026-03-03T10:00:01Z', 'u2'), type: 'approval_decided', approval: 'a1', status: 'approved', from: 'new', to: 'won', reason: null },
  { ...base('e7', '2026-03-03T10:00:01Z', 'u2'), type: 'stage_moved', from: 'new', to: 'won', seconds_in_stage: 180_000, comment: '签约', approval: 'a1' },
  { ...base('e8', '2026-03-04T10:00:00Z', 'u3'), type: 'approval_decided', approval: 'a2', status: 'rejected', from: 'won', to: 'new', reason: '金额不对' },
  { ...base('e9', '2026-03-04T11:00:00Z', 'u1'), type: 'manual_run', rule: 'mark_hot' },
  { ...base('e10', '2026-03-04T12:00:00Z', null, 'timer:x'), type: 'sla_breached', stage: 'won', due_at: '2026-03-04T12:00:00Z' },
  { ...base('r1', '2026-03-04T12:00:01Z', 'u1', 'rule:mark_hot'), type: 'rule_run', rule: 'mark_hot', status: 'failed', finished_at: null },
  {
    ...base('c1', '2026-03-04T13:00:00Z', 'u1'),
    type: 'comment',
    comment: {
      id: 'c1',
      author: 'u1',
      author_name: '李雷',
      body: `@[${U2}] 请看一下，@[${U1}] 不存在`,
      mentions: [{ id: U2, name: '韩梅梅' }],
      created_at: '2026-03-04T13:00:00Z',
      can_delete: true,
    },
  },
];

function show(entries: TimelineEntry[], lang: Lang, deleteComment?: TimelineContext['deleteComment']) {
  return render(
    <MemoryRouter>
      <I18nProvider lang={lang}>
        <Timeline entries={entries} ctx={{ ...ctx(lang), deleteComment }} />
      </I18nProvider>
    </MemoryRouter>,
  );
}

const titles = () => screen.getAllByTestId('timeline-entry').map((e) => e.querySelector('.timeline-title')?.textContent);

describe('the timeline', () => {
  it('shows each kind of history event in Chinese', () => {
    show(history, 'zh');
    expect(titles()).toEqual([
      '李雷 创建了记录',
      '李雷 修改了记录',
      '系统 修改了记录',
      '李雷 申请进入“赢单”',
      '韩梅梅（代 王经理） 投了同意票',
      '韩梅梅 批准进入“赢单”',
      '韩梅梅 把阶段从“新商机”改为“赢单”',
      '王经理 驳回了进入“新商机”的申请',
      '李雷 运行了规则“标记为重点”',
      '“赢单”阶段已超时',
      '规则“标记为重点”运行了',
      '李雷 发表了评论',
    ]);
    const entries = screen.getAllByTestId('timeline-entry');
    // Field changes, old → new, as the grid shows values.
    const amount = within(entries[1]).getByTestId('change-amount');
    expect(amount.querySelector('.timeline-field')?.textContent).toBe('金额');
    expect(amount.querySelector('.timeline-old')?.textContent).toBe('—');
    expect(amount.querySelector('.timeline-new')?.textContent).toMatch(/CNY\s*1,200\.50/);
    const status = within(entries[1]).getByTestId('change-status');
    expect(status.querySelector('.timeline-old')?.textContent).toBe('进行中');
    expect(status.querySelector('.timeline-new')?.textContent).toBe('赢单');
    // A rule's change says so.
    expect(entries[2].querySelector('.timeline-rule')?.textContent).toBe('由规则“标记为重点”执行');
    expect(entries[1].querySelector('.timeline-rule')).toBeNull();
    // Comments, reasons, time in the stage.
    expect(entries[3].textContent).toContain('说明：请审批');
    expect(entries[6].textContent).toContain('在“新商机”停留了 2 天');
    expect(entries[6].textContent).toContain('说明：签约');
    expect(entries[7].textContent).toContain('原因：金额不对');
    // Fields hidden from the caller changed too: said, never named.
    expect(within(entries[2]).getByTestId('timeline-veiled').textContent).toContain('还有对你隐藏的字段发生了变化');
    expect(within(entries[1]).queryByTestId('timeline-veiled')).toBeNull();
    expect(within(entries[10]).getByTestId('rule-run-status').textContent).toBe('运行失败');
    expect(entries[10].querySelector('.timeline-rule')).toBeNull();
    // A comment shows its mentions by name; an id naming nobody stays as written.
    const body = within(entries[11]).getByTestId('comment-body');
    expect(body.textContent).toBe(`@韩梅梅 请看一下，@[${U1}] 不存在`);
    expect(within(body).getAllByTestId('comment-mention').map((m) => m.getAttribute('data-user'))).toEqual([U2]);
    expect(entries.map((e) => e.getAttribute('data-kind'))).toEqual(history.map((e) => e.type));
  });

  it('in English', () => {
    show(history.slice(5, 8), 'en');
    expect(titles()).toEqual([
      '韩梅梅 approved the move to “Won”',
      '韩梅梅 moved it from “New” to “Won”',
      '王经理 rejected the move to “New”',
    ]);
    expect(screen.getAllByTestId('timeline-entry')[1].textContent).toContain('2 d in “New”');
  });

  it('offers to delete only the comments the caller may delete', async () => {
    const deleted: string[] = [];
    const mine = history[11] as Extract<TimelineEntry, { type: 'comment' }>;
    const theirs = { ...mine, id: 'c2', comment: { ...mine.comment, id: 'c2', can_delete: false } };
    show([mine, theirs], 'en', (c) => deleted.push(c.id));
    const [a, b] = screen.getAllByTestId('timeline-entry');
    expect(within(b).queryByTestId('comment-delete')).toBeNull();
    fireEvent.click(within(a).getByTestId('comment-delete'));
    fireEvent.click(await screen.findByText('Delete the comment', { selector: 'button span' }));
    expect(deleted).toEqual(['c1']);
  });
});

describe('mentions', () => {
  it('split a body into text and the mentions the comment names', () => {
    expect(commentParts(`hi @[${U1}], and @[${U2}]!`, [{ id: U1, name: 'Li' }])).toEqual([
      { text: `hi ` },
      { mention: { id: U1, name: 'Li' } },
      { text: `, and @[${U2}]!` },
    ]);
    expect(commentParts('plain', [])).toEqual([{ text: 'plain' }]);
  });

  it('write the names the picker inserted as ids, longer names first, hand-typed ones as they are', () => {
    const picked = [
      { id: U1, name: 'Li' },
      { id: U2, name: 'Li Lei' },
    ];
    expect(encodeMentions('@Li Lei and @Li, see @Lisa and @Han', picked)).toBe(`@[${U2}] and @[${U1}], see @Lisa and @Han`);
    expect(encodeMentions('请 @韩梅梅 看看', [{ id: U1, name: '韩梅梅' }])).toBe(`请 @[${U1}] 看看`);
    expect(encodeMentions('@韩梅梅，好', [{ id: U1, name: '韩梅梅' }])).toBe(`@[${U1}]，好`);
    expect(encodeMentions('no one', [])).toBe('no one');
  });
});
