// A stored file as a link that downloads it: `GET /api/v1/files/{id}` needs the bearer token,
// which a plain link does not send, so the click fetches the bytes through the client and saves
// them under the file's name.

import { useState } from 'react';
import { App as AntApp, Spin } from 'antd';
import { PaperClipOutlined } from '@ant-design/icons';
import { toProblem, useApi } from '../api';
import { formatNumber, useI18n } from '../i18n';

export interface FileRef {
  id: string;
  name?: string;
  size?: number;
}

export function FileLink({ file }: { file: FileRef }) {
  const api = useApi();
  const { lang, t } = useI18n();
  const { message } = AntApp.useApp();
  const [busy, setBusy] = useState(false);
  const name = file.name || file.id;
  const download = async () => {
    setBusy(true);
    try {
      const { data, response } = await api.GET('/api/v1/files/{id}', {
        params: { path: { id: file.id } },
        parseAs: 'blob',
      });
      if (!response.ok || !(data instanceof Blob)) throw new Error(`HTTP ${response.status}`);
      const url = URL.createObjectURL(data);
      const a = document.createElement('a');
      a.href = url;
      a.download = name;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (e) {
      message.error(t('file.downloadFailed', { name, reason: toProblem(e).displayMessage }));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="file-link" data-file-id={file.id}>
      <PaperClipOutlined />{' '}
      <a
        href={`/api/v1/files/${encodeURIComponent(file.id)}`}
        download={name}
        onClick={(e) => {
          e.preventDefault();
          e.stopPropagation();
          void download();
        }}
        title={t('file.download')}
        data-testid="file-link"
      >
        {name}
      </a>
      {typeof file.size === 'number' && (
        <span className="file-size">{t('file.size', { size: formatNumber(Math.ceil(file.size / 1024), lang) })}</span>
      )}
      {busy && <Spin size="small" />}
    </span>
  );
}
