// The dialog of one move: its comment (required when the transition says so), a note when it
// waits for an approval, and the files the move needs as evidence.

import { useState } from 'react';
import { Alert, Button, Form, Input, Modal, Progress, Typography } from 'antd';
import { PaperClipOutlined, UploadOutlined } from '@ant-design/icons';
import { uploadFile } from '../form/inputs';
import { localize, useI18n } from '../i18n';
import { blockerKind } from './blockers';
import type { NextMove } from './queries';

export interface EvidenceFile {
  id: string;
  name: string;
  /** The attachment requirement's key it answers. */
  kind: string;
}

export interface MoveInput {
  comment: string;
  files: EvidenceFile[];
}

export interface MoveDialogProps {
  move: NextMove;
  busy: boolean;
  onCancel: () => void;
  onSubmit: (input: MoveInput) => void;
}

export function MoveDialog({ move, busy, onCancel, onSubmit }: MoveDialogProps) {
  const { lang, t } = useI18n();
  const [comment, setComment] = useState('');
  const [touched, setTouched] = useState(false);
  const [files, setFiles] = useState<EvidenceFile[]>([]);
  const [uploading, setUploading] = useState<{ kind: string; percent: number } | null>(null);
  const [uploadError, setUploadError] = useState<string | null>(null);
  const needs = move.blocked_by.filter((b) => blockerKind(b) === 'attachment');
  const missingComment = move.comment_required && comment.trim() === '';
  const missingFiles = needs.some((b) => !files.some((f) => `attachments.${f.kind}` === b.field));
  const stage = localize(move.label, lang) || move.to;

  const pick = (kind: string) => {
    const input = document.createElement('input');
    input.type = 'file';
    input.onchange = () => {
      const file = input.files?.[0];
      if (!file) return;
      setUploadError(null);
      setUploading({ kind, percent: 0 });
      uploadFile(file, (percent) => setUploading({ kind, percent }))
        .then((stored) => setFiles((fs) => [...fs, { id: stored.id, name: stored.name ?? file.name, kind }]))
        .catch((e: Error) => setUploadError(t('form.uploadFailed', { name: file.name, reason: e.message })))
        .finally(() => setUploading(null));
    };
    input.click();
  };

  return (
    <Modal
      open
      title={t('transition.confirmTitle', { stage })}
      onCancel={onCancel}
      okText={t('transition.submit')}
      cancelText={t('transition.cancel')}
      okButtonProps={{ loading: busy, disabled: missingFiles || uploading !== null, 'data-testid': 'move-submit' } as never}
      onOk={() => {
        setTouched(true);
        if (missingComment || missingFiles) return;
        onSubmit({ comment, files });
      }}
      destroyOnHidden
    >
      <div data-testid="move-dialog">
        {move.needs_approval && (
          <Alert type="info" showIcon className="record-alert" message={t('transition.approvalNote')} />
        )}
        <Form layout="vertical">
          <Form.Item
            label={t('transition.comment')}
            required={move.comment_required}
            validateStatus={touched && missingComment ? 'error' : undefined}
            help={touched && missingComment ? t('transition.commentRequired') : undefined}
          >
            <Input.TextArea
              rows={3}
              value={comment}
              maxLength={4000}
              placeholder={move.comment_required ? t('transition.commentRequired') : t('transition.commentPlaceholder')}
              onChange={(e) => setComment(e.target.value)}
              data-testid="move-comment"
            />
          </Form.Item>
          {needs.map((b) => {
            const kind = b.field.slice('attachments.'.length);
            const given = files.filter((f) => f.kind === kind);
            return (
              <Form.Item key={b.field} label={localize(b.messages, lang) || b.message} required>
                {given.map((f) => (
                  <div key={f.id} className="form-file">
                    <PaperClipOutlined /> <Typography.Text>{f.name}</Typography.Text>
                  </div>
                ))}
                {uploading?.kind === kind ? (
                  <Progress percent={uploading.percent} size="small" />
                ) : (
                  <Button icon={<UploadOutlined />} onClick={() => pick(kind)} data-testid={`move-evidence-${kind}`}>
                    {t('form.upload')}
                  </Button>
                )}
              </Form.Item>
            );
          })}
          {uploadError && <Alert type="error" showIcon message={uploadError} />}
        </Form>
      </div>
    </Modal>
  );
}
