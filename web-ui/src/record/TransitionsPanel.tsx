// The moves from the record's stage the caller may make: one button each. A move that something
// blocks shows what (and is not sent); a move whose only blockers are evidence opens the dialog
// where the files are given. A 409 shows the server's blockers the same way; a 412 (someone
// changed the record meanwhile) names what they changed and offers their version or the move again.

import { useState } from 'react';
import { Alert, App as AntApp, Button, Space, Tag, Typography } from 'antd';
import { ArrowRightOutlined, AuditOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { toProblem, useApi, type EntityDef, type ProblemFieldError } from '../api';
import type { RecordRow } from '../grid/listRequest';
import { recordKeys } from '../grid/queries';
import { getVersioned, type Versioned } from '../form/queries';
import { localeTag, localize, useI18n, type Lang } from '../i18n';
import { BlockerList } from './BlockerList';
import { blockerKind } from './blockers';
import { MoveDialog, type MoveInput } from './MoveDialog';
import { pageKeys, transition, type NextMove, type NextMoves } from './queries';

export interface TransitionsPanelProps {
  app: string;
  entity: EntityDef;
  current: Versioned;
  moves: NextMoves;
  expand: readonly string[];
  editHref?: string;
}

interface Stale {
  move: NextMove;
  input: MoveInput;
  theirs: Versioned;
  changed: string[];
}

/** Fields whose value differs between two readings of a record, by their labels. */
function changedFields(entity: EntityDef, a: RecordRow, b: RecordRow, lang: Lang, stageLabel: string): string[] {
  const out = (entity.fields ?? [])
    .filter((f) => JSON.stringify(a[f.name] ?? null) !== JSON.stringify(b[f.name] ?? null))
    .map((f) => localize(f.label, lang) || f.name);
  if ((a.stage ?? null) !== (b.stage ?? null)) out.push(stageLabel);
  return out;
}

export function TransitionsPanel({ app, entity, current, moves, expand, editHref }: TransitionsPanelProps) {
  const api = useApi();
  const queryClient = useQueryClient();
  const { lang, t } = useI18n();
  const { message } = AntApp.useApp();
  const [open, setOpen] = useState<NextMove | null>(null);
  const [refused, setRefused] = useState<{ to: string; errors: ProblemFieldError[] } | null>(null);
  const [stale, setStale] = useState<Stale | null>(null);
  const [busy, setBusy] = useState(false);
  const id = current.record.id;
  const allowed = moves.transitions.filter((m) => m.allowed);
  const stageName = (key: string) =>
    localize(moves.transitions.find((m) => m.to === key)?.label, lang) || key;

  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: [...recordKeys.all, app, entity.name] }),
      queryClient.invalidateQueries({ queryKey: pageKeys.approvals }),
    ]);

  const perform = async (move: NextMove, input: MoveInput, etag: string | null) => {
    setBusy(true);
    setRefused(null);
    try {
      const answer = await transition(
        api,
        app,
        entity.name,
        id,
        {
          to: move.to,
          comment: input.comment.trim() || undefined,
          attachments: input.files.length ? input.files.map((f) => ({ file: f.id, kind: f.kind })) : undefined,
        },
        etag,
      );
      setOpen(null);
      setStale(null);
      const stage = localize(move.label, lang) || move.to;
      if (answer.status === 'pending_approval') message.info(t('transition.pending', { stage }));
      else message.success(t('transition.moved', { stage }));
      await refresh();
    } catch (e) {
      const p = toProblem(e);
      if (p.status === 409 && p.errors.length) {
        setOpen(null);
        setStale(null);
        setRefused({ to: move.to, errors: p.errors });
        // What blocks it now, on the record as it now is.
        await queryClient.invalidateQueries({ queryKey: recordKeys.one(app, entity.name, id) });
      } else if (p.status === 412) {
        setOpen(null);
        try {
          const theirs = await getVersioned(api, app, entity.name, id, expand);
          setStale({
            move,
            input,
            theirs,
            changed: changedFields(entity, current.record, theirs.record, lang, t('field.stage')),
          });
        } catch (e2) {
          message.error(toProblem(e2).displayMessage);
        }
      } else {
        message.error(t('transition.failed', { reason: p.displayMessage }));
      }
    } finally {
      setBusy(false);
    }
  };

  const listFormat = new Intl.ListFormat(localeTag(lang), { type: 'conjunction' });

  return (
    <div className="transitions" data-testid="transitions">
      {stale && (
        <Alert
          type="warning"
          showIcon
          className="record-alert"
          data-testid="transition-stale"
          message={t('form.stale.title')}
          description={
            <>
              <div>{t('transition.stale.description')}</div>
              {stale.changed.length > 0 && (
                <div data-testid="transition-stale-changed">
                  {t('form.stale.changed', { fields: listFormat.format(stale.changed) })}
                </div>
              )}
              <Space wrap style={{ marginTop: 8 }}>
                <Button
                  onClick={() => {
                    setStale(null);
                    void refresh();
                  }}
                  data-testid="transition-stale-reload"
                >
                  {t('form.stale.reload')}
                </Button>
                <Button
                  type="primary"
                  loading={busy}
                  onClick={() => void perform(stale.move, stale.input, stale.theirs.etag)}
                  data-testid="transition-stale-retry"
                >
                  {t('transition.stale.retry', { stage: localize(stale.move.label, lang) || stale.move.to })}
                </Button>
              </Space>
            </>
          }
        />
      )}
      {refused && (
        <Alert
          type="error"
          showIcon
          closable
          onClose={() => setRefused(null)}
          className="record-alert"
          data-testid="transition-refused"
          message={t('transition.refused', { stage: stageName(refused.to) })}
          description={<BlockerList blockers={refused.errors} entity={entity} editHref={editHref} />}
        />
      )}
      {allowed.length === 0 ? (
        <Typography.Text type="secondary">{t('transition.none')}</Typography.Text>
      ) : (
        <ul className="move-list">
          {allowed.map((m) => {
            const label = localize(m.label, lang) || m.to;
            // Evidence can be given with the move; anything else must be fixed first.
            const evidenceOnly = !m.ready && m.blocked_by.every((b) => blockerKind(b) === 'attachment');
            const can = m.ready || evidenceOnly;
            return (
              <li key={m.to} className="move" data-testid={`move-${m.to}`} data-ready={m.ready}>
                <Space wrap>
                  <Button
                    type={m.ready ? 'primary' : 'default'}
                    icon={<ArrowRightOutlined />}
                    disabled={!can}
                    onClick={() => setOpen(m)}
                    data-testid={`move-button-${m.to}`}
                  >
                    {label}
                  </Button>
                  {m.needs_approval && (
                    <Tag icon={<AuditOutlined />} color="gold">
                      {t('transition.needsApproval')}
                    </Tag>
                  )}
                </Space>
                {!m.ready && m.blocked_by.length > 0 && (
                  <div className="move-blocked">
                    <Typography.Text type="secondary">{t('transition.blockedBy', { stage: label })}</Typography.Text>
                    <BlockerList
                      blockers={m.blocked_by}
                      entity={entity}
                      editHref={editHref}
                      testId={`blockers-${m.to}`}
                    />
                  </div>
                )}
              </li>
            );
          })}
        </ul>
      )}
      {open && (
        <MoveDialog
          move={open}
          busy={busy}
          onCancel={() => setOpen(null)}
          onSubmit={(input) => void perform(open, input, current.etag)}
        />
      )}
    </div>
  );
}
