// The approvals waiting on this record: who asked for which move, the votes so far, and for a
// caller who may decide (themselves or by delegation) Approve / Reject with a comment. The
// caller's own delegations are one click away.

import { useState } from 'react';
import { Alert, App as AntApp, Button, Input, Modal, Space, Tag, Typography } from 'antd';
import { CheckOutlined, CloseOutlined, UserSwitchOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { toProblem, useApi } from '../api';
import { recordKeys } from '../grid/queries';
import { formatDateTime, useI18n } from '../i18n';
import { DelegationModal } from './DelegationModal';
import { decide, pageKeys, usePendingApprovals, type Approval } from './queries';

export interface ApprovalsPanelProps {
  app: string;
  entity: string;
  record: string;
  /** A stage's label by its key. */
  stageLabel: (key: string) => string;
  /** A user's name by id. */
  userName: (id: string) => string;
}

interface Deciding {
  approval: Approval;
  approve: boolean;
}

export function ApprovalsPanel({ app, entity, record, stageLabel, userName }: ApprovalsPanelProps) {
  const api = useApi();
  const queryClient = useQueryClient();
  const { lang, t } = useI18n();
  const { message } = AntApp.useApp();
  const all = usePendingApprovals(false);
  const mine = usePendingApprovals(true);
  const [deciding, setDeciding] = useState<Deciding | null>(null);
  const [comment, setComment] = useState('');
  const [touched, setTouched] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [delegating, setDelegating] = useState(false);

  const here = (all.data ?? []).filter((a) => a.record === record);
  const mayDecide = new Set((mine.data ?? []).filter((a) => a.record === record).map((a) => a.id));

  const start = (approval: Approval, approve: boolean) => {
    setDeciding({ approval, approve });
    setComment('');
    setTouched(false);
    setError(null);
  };

  const submit = async () => {
    if (!deciding) return;
    setTouched(true);
    if (!deciding.approve && comment.trim() === '') return;
    setBusy(true);
    setError(null);
    try {
      const a = await decide(api, deciding.approval.id, deciding.approve, comment.trim());
      setDeciding(null);
      if (a.status === 'approved') message.success(t('approval.approved'));
      else if (a.status === 'rejected') message.success(t('approval.rejected'));
      else message.success(t('approval.voted'));
      await Promise.all([
        queryClient.invalidateQueries({ queryKey: pageKeys.approvals }),
        queryClient.invalidateQueries({ queryKey: [...recordKeys.all, app, entity] }),
      ]);
    } catch (e) {
      const p = toProblem(e);
      setError(p.status === 403 ? t('approval.notApprover') : p.status === 409 ? t('approval.alreadyVoted') : p.displayMessage);
    } finally {
      setBusy(false);
    }
  };

  const failed = all.error ? toProblem(all.error) : null;
  const missingReason = deciding !== null && !deciding.approve && comment.trim() === '';

  return (
    <div className="approvals" data-testid="approvals">
      {failed ? (
        <Alert type="error" showIcon message={t('approval.loadFailed')} description={failed.displayMessage} />
      ) : here.length === 0 ? (
        <Typography.Text type="secondary">{t('approval.none')}</Typography.Text>
      ) : (
        <ul className="approval-list">
          {here.map((a) => (
            <li key={a.id} className="approval" data-testid={`approval-${a.id}`}>
              <Typography.Text strong>
                {t('approval.request', { user: userName(a.requested_by), from: stageLabel(a.from), to: stageLabel(a.to) })}
              </Typography.Text>
              <div>
                <Typography.Text type="secondary">
                  {t('approval.requestedAt', { time: formatDateTime(a.requested_at, lang) })}
                </Typography.Text>
              </div>
              {a.comment && <div className="approval-comment">{t('approval.comment', { comment: a.comment })}</div>}
              {a.votes.length > 0 && (
                <ul className="approval-votes">
                  {a.votes.map((v) => (
                    <li key={`${v.user}-${v.at}`}>
                      <Tag color={v.decision === 'approve' ? 'green' : 'red'}>
                        {v.decision === 'approve'
                          ? t('approval.vote.approve', { user: userName(v.user) })
                          : t('approval.vote.reject', { user: userName(v.user) })}
                      </Tag>
                      {v.comment && <Typography.Text type="secondary">{v.comment}</Typography.Text>}
                    </li>
                  ))}
                </ul>
              )}
              {mayDecide.has(a.id) && (
                <Space className="approval-actions">
                  <Button
                    type="primary"
                    icon={<CheckOutlined />}
                    onClick={() => start(a, true)}
                    data-testid="approval-approve"
                  >
                    {t('approval.approve')}
                  </Button>
                  <Button danger icon={<CloseOutlined />} onClick={() => start(a, false)} data-testid="approval-reject">
                    {t('approval.reject')}
                  </Button>
                </Space>
              )}
            </li>
          ))}
        </ul>
      )}
      <div>
        <Button
          type="link"
          icon={<UserSwitchOutlined />}
          onClick={() => setDelegating(true)}
          className="approval-delegate"
          data-testid="approval-delegations"
        >
          {t('approval.delegate')}
        </Button>
      </div>
      {deciding && (
        <Modal
          open
          title={deciding.approve ? t('approval.approveTitle') : t('approval.rejectTitle')}
          okText={deciding.approve ? t('approval.approve') : t('approval.reject')}
          cancelText={t('transition.cancel')}
          okButtonProps={{ danger: !deciding.approve, loading: busy, 'data-testid': 'approval-submit' } as never}
          onOk={() => void submit()}
          onCancel={() => setDeciding(null)}
        >
          <div data-testid="approval-dialog">
            <Typography.Paragraph>
              {t('approval.request', {
                user: userName(deciding.approval.requested_by),
                from: stageLabel(deciding.approval.from),
                to: stageLabel(deciding.approval.to),
              })}
            </Typography.Paragraph>
            <Input.TextArea
              rows={3}
              maxLength={4000}
              value={comment}
              status={touched && missingReason ? 'error' : undefined}
              placeholder={deciding.approve ? t('approval.commentPlaceholder') : t('approval.reasonPlaceholder')}
              onChange={(e) => setComment(e.target.value)}
              data-testid="approval-comment"
            />
            {touched && missingReason && (
              <Typography.Text type="danger" data-testid="approval-reason-required">
                {t('approval.reasonRequired')}
              </Typography.Text>
            )}
            {error && <Alert type="error" showIcon className="record-alert" message={error} data-testid="approval-error" />}
          </div>
        </Modal>
      )}
      {delegating && <DelegationModal onClose={() => setDelegating(false)} />}
    </div>
  );
}
