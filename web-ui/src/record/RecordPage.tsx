// `/apps/:app/:entity/:id`: a record's fields, read-only (the full record page is a later slice).

import { Alert, Button, Card, Descriptions, Result, Skeleton, Space } from 'antd';
import { ArrowLeftOutlined, EditOutlined } from '@ant-design/icons';
import { Link, useParams } from 'react-router';
import { toProblem } from '../api';
import { hasRight, readableEntities } from '../apps/rights';
import { relationTitle, renderCell } from '../grid/cells';
import { useRecord } from '../grid/queries';
import { formatDateTime, localize, useI18n } from '../i18n';
import { useAppOutlet } from '../shell/AppContext';

export default function RecordPage() {
  const { entity: name = '', id = '' } = useParams();
  const { app, caller } = useAppOutlet();
  const { lang, t } = useI18n();
  const readable = new Set(readableEntities(app, caller).map((e) => e.name));
  const entity = readableEntities(app, caller).find((e) => e.name === name);
  const fields = entity?.fields ?? [];
  const expand = fields.filter((f) => f.type === 'relation' && readable.has(f.target ?? '')).map((f) => f.name);
  const record = useRecord(app.name, name, id, expand);

  if (!entity) return <Result status="404" title={t('grid.entityNotFound')} />;
  const err = record.error ? toProblem(record.error) : null;
  const ctx = { lang, t, app: app.name, entities: app.entities ?? [], readable };
  const r = record.data;

  return (
    <div className="record-page" data-testid="record-page">
      <Link to={`/apps/${app.name}/${name}`}>
        <Button type="link" icon={<ArrowLeftOutlined />} style={{ paddingLeft: 0 }}>
          {t('record.back')}
        </Button>
      </Link>
      {err ? (
        err.status === 404 ? (
          <Result status="404" title={t('record.notFound')} />
        ) : (
          <Alert type="error" showIcon message={t('record.loadFailed')} description={err.displayMessage} />
        )
      ) : (
        <Card
          title={<span data-testid="record-title">{r ? relationTitle(entity, r, lang) : localize(entity.label, lang)}</span>}
          extra={
            <Space wrap>
              <span>{localize(entity.label, lang) || entity.name}</span>
              {r && hasRight(app, name, caller, 'update') && (
                <Link to={`/apps/${app.name}/${name}/${encodeURIComponent(id)}/edit`}>
                  <Button type="primary" icon={<EditOutlined />} data-testid="record-edit">
                    {t('record.edit')}
                  </Button>
                </Link>
              )}
            </Space>
          }
        >
          {!r ? (
            <Skeleton active />
          ) : (
            <Descriptions
              bordered
              size="small"
              column={{ xs: 1, sm: 1, md: 2 }}
              items={[
                ...fields.map((f) => ({
                  key: f.name,
                  label: localize(f.label, lang) || f.name,
                  children: renderCell(f, r[f.name], ctx),
                })),
                { key: 'id', label: t('field.id'), children: <code>{r.id}</code> },
                ...(['created_at', 'updated_at'] as const)
                  .filter((k) => typeof r[k] === 'string')
                  .map((k) => ({ key: k, label: t(`field.${k}`), children: formatDateTime(String(r[k]), lang) })),
              ]}
            />
          )}
        </Card>
      )}
    </div>
  );
}
