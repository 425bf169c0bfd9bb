// The record's timeline: one entry per item of `…/timeline` (field changes old → new with the
// grid's cells, stage moves with the time spent, approvals asked, voted, decided, SLA breaches,
// manual runs, the rule runs a change started, comments with their mentions as names), each
// with who and when, and whether a rule made it.

import type { ReactNode } from 'react';
import { Button, Popconfirm, Tag, Timeline as AntTimeline, Tooltip, Typography, type ButtonProps } from 'antd';
import {
  ArrowRightOutlined,
  AuditOutlined,
  CheckCircleOutlined,
  ClockCircleOutlined,
  CloseCircleOutlined,
  DeleteOutlined,
  EditOutlined,
  EyeInvisibleOutlined,
  MessageOutlined,
  PlusCircleOutlined,
  SwapRightOutlined,
  ThunderboltOutlined,
} from '@ant-design/icons';
import type { EntityDef, FieldDef } from '../api';
import { renderCell, type CellContext } from '../grid/cells';
import { formatDateTime, localize, useI18n, type MessageKey } from '../i18n';
import { commentParts, entryKey, viaRule, type Comment, type TimelineEntry } from './timeline';
import { RUN_STATUS_LABEL } from './queries';
import { formatDuration, formatRelative } from './time';

export interface TimelineContext {
  entity: EntityDef;
  cells: CellContext;
  userName: (id: string) => string;
  stageLabel: (key: string) => string;
  ruleLabel: (name: string) => string;
  /** Deletes a comment (offered on those the caller may delete). */
  deleteComment?: (comment: Comment) => void;
}

interface Shown {
  icon: ReactNode;
  color: string;
  title: string;
  body?: ReactNode;
  /** An action on the entry (deleting one's comment). */
  extra?: ReactNode;
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

function commentLine(comment: string | null, t: T): ReactNode {
  return comment ? <div className="timeline-comment">{t('timeline.comment', { comment })}</div> : null;
}

/** A comment's body with its mentions shown as names. */
export function CommentBody({ comment }: { comment: Comment }) {
  return (
    <div className="timeline-comment-body" data-testid="comment-body">
      {commentParts(comment.body, comment.mentions).map((p, i) =>
        'mention' in p ? (
          <span key={i} className="comment-mention" data-testid="comment-mention" data-user={p.mention.id}>
            @{p.mention.name}
          </span>
        ) : (
          <span key={i}>{p.text}</span>
        ),
      )}
    </div>
  );
}

/** How each type of entry shows. */
function showEntry(entry: TimelineEntry, ctx: TimelineContext, t: T): Shown {
  const user = entry.actor ? ctx.userName(entry.actor) : t('timeline.system');
  switch (entry.type) {
    case 'created':
      return { icon: <PlusCircleOutlined />, color: 'green', title: t('timeline.created', { user }) };
    case 'fields_changed':
      return {
        icon: <EditOutlined />,
        color: 'blue',
        title: t('timeline.updated', { user }),
        body: (
          <>
            {entry.changes.length > 0 && (
              <ul className="timeline-changes">
                {entry.changes.map((c) => {
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
            )}
            {entry.veiled && (
              <div className="timeline-note" data-testid="timeline-veiled">
                <EyeInvisibleOutlined /> {t('timeline.veiled')}
              </div>
            )}
          </>
        ),
      };
    case 'stage_moved': {
      const from = ctx.stageLabel(entry.from);
      return {
        icon: <ArrowRightOutlined />,
        color: 'purple',
        title: t('timeline.stageChanged', { user, from, to: ctx.stageLabel(entry.to) }),
        body: (
          <>
            {entry.seconds_in_stage !== null && (
              <div className="timeline-note">
                {t('timeline.inStage', { stage: from, duration: formatDuration(entry.seconds_in_stage, t) })}
              </div>
            )}
            {commentLine(entry.comment, t)}
          </>
        ),
      };
    }
    case 'approval_requested':
      return {
        icon: <AuditOutlined />,
        color: 'gold',
        title: t('timeline.approvalRequested', { user, to: ctx.stageLabel(entry.to) }),
        body: commentLine(entry.comment, t),
      };
    case 'approval_voted': {
      const who = entry.on_behalf_of ? t('timeline.onBehalf', { user, other: ctx.userName(entry.on_behalf_of) }) : user;
      const yes = entry.decision === 'approve';
      return {
        icon: yes ? <CheckCircleOutlined /> : <CloseCircleOutlined />,
        color: yes ? 'green' : 'red',
        title: yes ? t('timeline.voteApprove', { user: who }) : t('timeline.voteReject', { user: who }),
        body: commentLine(entry.comment, t),
      };
    }
    case 'approval_decided': {
      const to = ctx.stageLabel(entry.to);
      if (entry.status === 'approved') {
        return { icon: <CheckCircleOutlined />, color: 'green', title: t('timeline.approvalApproved', { user, to }) };
      }
      return {
        icon: <CloseCircleOutlined />,
        color: 'red',
        title: t('timeline.approvalRejected', { user, to }),
        body: entry.reason ? <div className="timeline-comment">{t('timeline.reason', { reason: entry.reason })}</div> : null,
      };
    }
    case 'sla_breached':
      return { icon: <ClockCircleOutlined />, color: 'red', title: t('timeline.slaBreached', { stage: ctx.stageLabel(entry.stage) }) };
    case 'manual_run':
      return { icon: <ThunderboltOutlined />, color: 'cyan', title: t('timeline.manual', { user, rule: ctx.ruleLabel(entry.rule) }) };
    case 'rule_run':
      return {
        icon: <ThunderboltOutlined />,
        color: entry.status === 'failed' || entry.status === 'error' ? 'red' : 'cyan',
        title: t('timeline.ruleRun', { rule: ctx.ruleLabel(entry.rule) }),
        body: (
          <div className="timeline-note" data-testid="rule-run-status">
            {t(RUN_STATUS_LABEL[entry.status])}
          </div>
        ),
      };
    case 'comment': {
      const c = entry.comment;
      const author = c.author_name ?? ctx.userName(c.author);
      return {
        icon: <MessageOutlined />,
        color: 'blue',
        title: t('timeline.commented', { user: author }),
        body: <CommentBody comment={c} />,
        extra:
          c.can_delete && ctx.deleteComment ? (
            <Popconfirm
              title={t('comment.deleteConfirm')}
              okText={t('comment.delete')}
              cancelText={t('comment.cancel')}
              okButtonProps={{ danger: true, 'data-testid': 'comment-delete-ok' } as ButtonProps}
              onConfirm={() => ctx.deleteComment?.(c)}
            >
              <Button
                size="small"
                type="text"
                icon={<DeleteOutlined />}
                aria-label={t('comment.delete')}
                data-testid="comment-delete"
                className="timeline-delete"
              />
            </Popconfirm>
          ) : null,
      };
    }
  }
}

export function Timeline({ entries, ctx }: { entries: readonly TimelineEntry[]; ctx: TimelineContext }) {
  const { lang, t } = useI18n();
  return (
    <AntTimeline
      className="record-timeline"
      items={entries.map((entry) => {
        const s = showEntry(entry, ctx, t);
        // A rule's run names its rule already; what a rule wrote says which rule.
        const rule = entry.type === 'rule_run' ? null : viaRule(entry.via);
        return {
          key: entryKey(entry),
          color: s.color,
          dot: s.icon,
          children: (
            <div className="timeline-entry" data-testid="timeline-entry" data-kind={entry.type}>
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
                {s.extra}
              </div>
              {s.body}
            </div>
          ),
        };
      })}
    />
  );
}
