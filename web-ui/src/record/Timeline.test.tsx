// The timeline's entries from a record's history: who did what and when, field changes old →
// new in the grid's cells, stage moves with the time spent, approvals asked, voted, decided,
// and a rule's change marked as the rule's.
import { describe, expect, it } from 'vitest';
import { render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';
import type { EntityDef } from '../api';
import { I18nProvider, translate, type Lang } from '../i18n';
import type { HistoryEvent } from './queries';
import { Timeline, type TimelineContext } from './Timeline';
import { fromHistory, mergeEntries, type TimelineEntry } from './timeline';

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

const ev = (id: string, at: string, kind: HistoryEvent['kind'], actor: string | null, data: Record<string, unknown> = {}, via: string | null = 'api') =>
  ({ id, at, kind, actor, via, ...data }) as HistoryEvent;

const history: HistoryEvent[] = [
  ev('e1', '2026-03-01T08:00:00Z', 'created', 'u1'),
  ev('e2', '2026-03-01T09:00:00Z', 'updated', 'u1', {
    changes: { amount: { from: null, to: { amount: 1200.5, currency: 'CNY' } }, status: { from: 'open', to: 'won' } },
  }),
  ev('e3', '2026-03-02T09:00:00Z', 'updated', null, { changes: { amount: { from: { amount: 1200.5, currency: 'CNY' }, to: { amount: 900, currency: 'CNY' } } } }, 'rule:mark_hot'),
  ev('e4', '2026-03-03T09:00:00Z', 'approval_requested', 'u1', { approval: 'a1', from: 'new', to: 'won', comment: '请审批' }),
  ev('e5', '2026-03-03T10:00:00Z', 'approval_approved_vote', 'u2', { approval: 'a1', on_behalf_of: 'u3', comment: '可以' }),
  ev('e6', '2026-03-03T10:00:01Z', 'approval_approved', 'u2', { approval: 'a1', from: 'new', to: 'won' }),
  ev('e7', '2026-03-03T10:00:01Z', 'stage_changed', 'u2', { from: 'new', to: 'won', seconds_in_stage: 180_000, comment: '签约' }),
  ev('e8', '2026-03-04T10:00:00Z', 'approval_rejected', 'u3', { approval: 'a2', from: 'won', to: 'new', reason: '金额不对' }),
  ev('e9', '2026-03-04T11:00:00Z', 'manual', 'u1', { rule: 'mark_hot' }),
  ev('e10', '2026-03-04T12:00:00Z', 'sla_breached', null, { stage: 'won', due_at: '2026-03-04T12:00:00Z' }, 'timer:x'),
];

function show(entries: TimelineEntry[], lang: Lang) {
  return render(
    <MemoryRouter>
      <I18nProvider lang={lang}>
        <Timeline entries={entries} ctx={ctx(lang)} />
      </I18nProvider>
    </MemoryRouter>,
  );
}

const titles = () => screen.getAllByTestId('timeline-entry').map((e) => e.querySelector('.timeline-title')?.textContent);

describe('the timeline', () => {
  it('shows each kind of history event in Chinese', () => {
    show(mergeEntries(fromHistory(history)), 'zh');
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
    expect(entries.map((e) => e.getAttribute('data-kind'))).toEqual(history.map((e) => e.kind));
  });

  it('in English', () => {
    show(fromHistory(history.slice(5, 8)), 'en');
    expect(titles()).toEqual([
      '韩梅梅 approved the move to “Won”',
      '韩梅梅 moved it from “New” to “Won”',
      '王经理 rejected the move to “New”',
    ]);
    expect(screen.getAllByTestId('timeline-entry')[1].textContent).toContain('2 d in “New”');
  });

  it('merges sources by time, keeping each source’s order on ties', () => {
    const a = fromHistory([history[6], history[9]]);
    const b = fromHistory([history[0], history[5]]);
    expect(mergeEntries(a, b).map((e) => e.key)).toEqual(['event:e1', 'event:e7', 'event:e6', 'event:e10']);
  });
});
