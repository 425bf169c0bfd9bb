// The record's timeline: one entry per history event (field changes old → new with the grid's
// cells, stage moves with the time spent, approvals asked, voted, decided, SLA breaches, manual
// runs), each with who and when, and whether a rule made it. See timeline.ts for adding a source.

import type { ReactNode } from 'react';
import { Tag, Timeline as AntTimeline, Tooltip, Typography } from 'antd';
import {
  ArrowRightOutlined,
  AuditOutlined,
  CheckCircleOutlined,
  ClockCircleOutlined,
  CloseCircleOutlined,
  DeleteOutlined,
  EditOutlined,
  PlusCircleOutlined,
  SwapRightOutlined,
  ThunderboltOutlined,
} from '@ant-design/icons';
import type { EntityDef, FieldDef } from '../api';
import { renderCell, type CellContext } from '../grid/cells';
import { formatDateTime, localize, useI18n, type MessageKey } from '../i18n';
import { changesOf, text, viaRule, type EventEntry, type TimelineEntry } from './timeline';
import { formatDuration, formatRelative } from './time';

export interface TimelineContext {
  entity: EntityDef;
  cells: CellContext;
  userName: (id: string) => string;
  stageLabel: (key: string) => string;
  ruleLabel: (name: string) => string;
}

interface Shown {
  icon: ReactNode;
  color: string;
  title: string;
  body?: ReactNode;
}

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

function fieldValue(def: FieldDef | undefined, name: string, value: unknown, ctx: TimelineContext): ReactNode {
  if (def) return renderCell(def, value, ctx.cells);
  if (value === null || value === undefined || value === '') return <span className="cell-empty">—</span>;
  if ((name === 'owner' || name === 'created_by') && typeof value === 'string') return ctx.userName(value);
  if (name === 'stage' && typeof value === 'string') return ctx.stageLabel(value);
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function fieldLabel(def: FieldDef | undefined, name: string, ctx: TimelineContext, t: T): string {
  if (def) return localize(def.label, ctx.cells.lang) || name;
  if (name === 'owner' || name === 'stage') return t(`field.${name}`);
  return name;
}

function showEvent(entry: EventEntry, ctx: TimelineContext, t: T): Shown {
  const e = entry.event;
  const user = entry.actor ? ctx.userName(entry.actor) : t('timeline.system');
  const from = ctx.stageLabel(text(e, 'from') ?? '—');
  const to = ctx.stageLabel(text(e, 'to') ?? '—');
  const comment = text(e, 'comment');
  const commentLine = comment ? <div className="timeline-comment">{t('timeline.comment', { comment })}</div> : null;
  switch (e.kind) {
    case 'created':
      return { icon: <PlusCircleOutlined />, color: 'green', title: t('timeline.created', { user }) };
    case 'deleted':
      return { icon: <DeleteOutlined />, color: 'red', title: t('timeline.deleted', { user }) };
    case 'updated': {
      const changes = changesOf(e);
      return {
        icon: <EditOutlined />,
        color: 'blue',
        title: t('timeline.updated', { user }),
        body: (
          <ul className="timeline-changes">
            {changes.map((c) => {
              const def = ctx.entity.fields?.find((f) => f.name === c.field);
              return (
                <li key={c.field} data-testid={`change-${c.field}`}>
                  <span className="timeline-field">{fieldLabel(def, c.field, ctx, t)}</span>
                  <span className="timeline-old">{fieldValue(def, c.field, c.from, ctx)}</span>
                  <SwapRightOutlined className="timeline-arrow" aria-hidden />
                  <span className="timeline-new">{fieldValue(def, c.field, c.to, ctx)}</span>
                </li>
              );
            })}
          </ul>
        ),
      };
    }
    case 'stage_changed': {
      const seconds = typeof e.seconds_in_stage === 'number' ? e.seconds_in_stage : null;
      return {
        icon: <ArrowRightOutlined />,
        color: 'purple',
        title: t('timeline.stageChanged', { user, from, to }),
        body: (
          <>
            {seconds !== null && (
              <div className="timeline-note">{t('timeline.inStage', { stage: from, duration: formatDuration(seconds, t) })}</div>
            )}
            {commentLine}
          </>
        ),
      };
    }
    case 'approval_requested':
      return { icon: <AuditOutlined />, color: 'gold', title: t('timeline.approvalRequested', { user, to }), body: commentLine };
    case 'approval_approved':
      return { icon: <CheckCircleOutlined />, color: 'green', title: t('timeline.approvalApproved', { user, to }) };
    case 'approval_rejected': {
      const reason = text(e, 'reason');
      return {
        icon: <CloseCircleOutlined />,
        color: 'red',
        title: t('timeline.approvalRejected', { user, to }),
        body: reason ? <div className="timeline-comment">{t('timeline.reason', { reason })}</div> : null,
      };
    }
    case 'approval_approved_vote':
    case 'approval_rejected_vote': {
      const behalf = text(e, 'on_behalf_of');
      const who = behalf ? t('timeline.onBehalf', { user, other: ctx.userName(behalf) }) : user;
      const yes = e.kind === 'approval_approved_vote';
      return {
        icon: yes ? <CheckCircleOutlined /> : <CloseCircleOutlined />,
        color: yes ? 'green' : 'red',
        title: yes ? t('timeline.voteApprove', { user: who }) : t('timeline.voteReject', { user: who }),
        body: commentLine,
      };
    }
    case 'sla_breached':
      return {
        icon: <ClockCircleOutlined />,
        color: 'red',
        title: t('timeline.slaBreached', { stage: ctx.stageLabel(text(e, 'stage') ?? '—') }),
      };
    case 'manual':
      return {
        icon: <ThunderboltOutlined />,
        color: 'cyan',
        title: t('timeline.manual', { user, rule: ctx.ruleLabel(text(e, 'rule') ?? '—') }),
      };
    default:
      return { icon: <EditOutlined />, color: 'gray', title: t('timeline.other', { user, kind: e.kind }) };
  }
}

/** How each type of entry shows; a new source adds its renderer here. */
function showEntry(entry: TimelineEntry, ctx: TimelineContext, t: T): Shown {
  switch (entry.type) {
    case 'event':
      return showEvent(entry, ctx, t);
  }
}

function entryKind(entry: TimelineEntry): string {
  return entry.type === 'event' ? entry.event.kind : entry.type;
}

export function Timeline({ entries, ctx }: { entries: readonly TimelineEntry[]; ctx: TimelineContext }) {
  const { lang, t } = useI18n();
  return (
    <AntTimeline
      className="record-timeline"
      items={entries.map((entry) => {
        const s = showEntry(entry, ctx, t);
        const rule = entry.type === 'event' ? viaRule(entry.event) : null;
        return {
          key: entry.key,
          color: s.color,
          dot: s.icon,
          children: (
            <div className="timeline-entry" data-testid="timeline-entry" data-kind={entryKind(entry)}>
              <div className="timeline-head">
                <Typography.Text className="timeline-title">{s.title}</Typography.Text>
                {rule && (
                  <Tag icon={<ThunderboltOutlined />} color="cyan" className="timeline-rule">
                    {t('timeline.viaRule', { rule: ctx.ruleLabel(rule) })}
                  </Tag>
                )}
                <Tooltip title={formatDateTime(entry.at, lang)}>
                  <Typography.Text type="secondary" className="timeline-time">
                    {formatRelative(entry.at, lang)}
                  </Typography.Text>
                </Tooltip>
              </div>
              {s.body}
            </div>
          ),
        };
      })}
    />
  );
}
