// The stage path of a record: the pipeline's stages as steps with the current one marked, the
// current stage's SOP as a checklist, when the stage is due and where its SLA stands.

import { useState } from 'react';
import { Checkbox, Steps, Tag, Tooltip, Typography } from 'antd';
import { ClockCircleOutlined, FieldTimeOutlined } from '@ant-design/icons';
import type { RecordRow } from '../grid/listRequest';
import { userKey } from '../shared/userStorage';
import { formatDateTime, localize, useI18n } from '../i18n';
import type { NextMoves, PipelineDef, StageDef } from './queries';
import { formatRelative, SLA_LABEL, slaState, type SlaState } from './time';

/** The steps shown: the open stages in order, then the stage where the record ended, or the won ones. */
export function pathStages(pipeline: PipelineDef, current: string | undefined): StageDef[] {
  const open = pipeline.stages.filter((s) => (s.kind ?? 'open') === 'open');
  const here = pipeline.stages.find((s) => s.key === current);
  if (here && (here.kind ?? 'open') !== 'open') return [...open, here];
  return [...open, ...pipeline.stages.filter((s) => s.kind === 'won')];
}

const SLA_COLORS: Record<SlaState, string> = { none: 'default', on_track: 'green', due_soon: 'orange', breached: 'red' };

/** Where this browser keeps a user's ticks of a stage's SOP on one record (`shared/userStorage.ts`). */
export function sopKey(userId: string, scope: string, stage: string) {
  return userKey(userId, 'sop', `${scope}/${stage}`);
}

function loadTicks(key: string): string[] {
  try {
    const v = JSON.parse(localStorage.getItem(key) ?? '[]');
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

export interface StagePathProps {
  pipeline: PipelineDef;
  record: RecordRow;
  moves: NextMoves | undefined;
  /** `app/entity/id`: where the SOP ticks are kept in this browser. */
  scope: string;
  /** Whose ticks they are: each user of the browser has their own, gone when they log out. */
  userId: string;
}

export function StagePath({ pipeline, record, moves, scope, userId }: StagePathProps) {
  const { lang, t } = useI18n();
  const stage = moves?.stage ?? (typeof record.stage === 'string' ? record.stage : undefined);
  const pending = moves?.pending_stage ?? (typeof record.pending_stage === 'string' ? record.pending_stage : null);
  const stages = pathStages(pipeline, stage);
  const at = stages.findIndex((s) => s.key === stage);
  const here = pipeline.stages.find((s) => s.key === stage);
  const items = stages.map((s, i) => {
    const kind = s.kind ?? 'open';
    let status: 'wait' | 'process' | 'finish' | 'error' = i < at ? 'finish' : 'wait';
    if (i === at) status = kind === 'lost' ? 'error' : kind === 'won' ? 'finish' : 'process';
    return {
      key: s.key,
      title: <span data-testid={`stage-step-${s.key}`}>{localize(s.label, lang) || s.key}</span>,
      status,
      description:
        s.key === pending ? (
          <Tag color="gold" data-testid="stage-pending">
            {t('record.stage.pendingTag')}
          </Tag>
        ) : undefined,
    };
  });

  const sla = slaState(record.stage_due_at, record.stage_breached_at);
  const due = typeof record.stage_due_at === 'string' ? record.stage_due_at : null;
  const entered = typeof record.stage_entered_at === 'string' ? record.stage_entered_at : null;

  const key = sopKey(userId, scope, stage ?? '');
  const [ticks, setTicks] = useState<{ key: string; done: string[] }>(() => ({ key, done: loadTicks(key) }));
  const done = ticks.key === key ? ticks.done : loadTicks(key);
  const toggle = (item: string, on: boolean) => {
    const next = on ? [...new Set([...done, item])] : done.filter((x) => x !== item);
    setTicks({ key, done: next });
    try {
      localStorage.setItem(key, JSON.stringify(next));
    } catch {
      /* ignore */
    }
  };
  const sop = moves?.sop ?? here?.sop ?? [];

  return (
    <div className="stage-path" data-testid="stage-path" data-stage={stage}>
      <Steps size="small" current={Math.max(at, 0)} items={items} className="stage-steps" />
      <div className="stage-facts">
        <Typography.Text strong data-testid="stage-current">
          {t('record.stage.current', { stage: here ? localize(here.label, lang) || here.key : (stage ?? '—') })}
        </Typography.Text>
        {entered && (
          <Tooltip title={formatDateTime(entered, lang)}>
            <Typography.Text type="secondary">
              <FieldTimeOutlined /> {t('record.stage.entered', { time: formatRelative(entered, lang) })}
            </Typography.Text>
          </Tooltip>
        )}
        {sla === 'none' ? (
          <Typography.Text type="secondary" data-testid="stage-sla" data-sla="none">
            {t('record.sla.none')}
          </Typography.Text>
        ) : (
          <span data-testid="stage-sla" data-sla={sla}>
            <Tag color={SLA_COLORS[sla]} icon={<ClockCircleOutlined />}>
              {t(SLA_LABEL[sla])}
            </Tag>
            {due && (
              <Tooltip title={formatDateTime(due, lang)}>
                <Typography.Text type={sla === 'breached' ? 'danger' : undefined}>
                  {t('record.sla.due', { time: formatDateTime(due, lang), relative: formatRelative(due, lang) })}
                </Typography.Text>
              </Tooltip>
            )}
          </span>
        )}
      </div>
      {pending && (
        <Typography.Paragraph type="warning" data-testid="stage-pending-note" className="stage-pending-note">
          {t('record.stage.pending', {
            stage: localize(pipeline.stages.find((s) => s.key === pending)?.label, lang) || pending,
          })}
        </Typography.Paragraph>
      )}
      <div className="stage-sop" data-testid="stage-sop">
        <Typography.Text type="secondary">{t('record.sop.title')}</Typography.Text>
        {sop.length === 0 ? (
          <div>
            <Typography.Text type="secondary">{t('record.sop.empty')}</Typography.Text>
          </div>
        ) : (
          <>
            <ul className="sop-list">
              {sop.map((a) => (
                <li key={a.key}>
                  <Checkbox
                    checked={done.includes(a.key)}
                    onChange={(e) => toggle(a.key, e.target.checked)}
                    data-testid={`sop-${a.key}`}
                  >
                    {localize(a.label, lang) || a.key}
                  </Checkbox>
                </li>
              ))}
            </ul>
            <Typography.Text type="secondary" className="sop-note">
              {t('record.sop.note')}
            </Typography.Text>
          </>
        )}
      </div>
    </div>
  );
}
