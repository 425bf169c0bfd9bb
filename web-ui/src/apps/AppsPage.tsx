import { useState } from 'react';
import { Alert, Button, Card, Col, Empty, Row, Space, Tag, Tooltip, Typography } from 'antd';
import { AppstoreAddOutlined, AppstoreOutlined, DatabaseOutlined, PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { toProblem, type App } from '../api';
import { useApps } from '../api/queries/apps';
import { useSession } from '../auth';
import { Link, useNavigate } from 'react-router';
import { useCaller } from './queries';
import { readableEntities, type Caller } from './rights';
import { CreateAppModal } from './CreateAppModal';
import { TemplatesModal } from './TemplatesModal';
import { formatDateTime, localize, useI18n } from '../i18n';

function AppCard({ app, caller }: { app: App; caller: Caller }) {
  const { lang, t } = useI18n();
  const label = localize(app.label, lang) || app.name;
  const description = localize(app.description, lang);
  const entityCount = app.entities?.length ?? 0;
  const first = readableEntities(app, caller)[0];

  const card = (
    <Card
      hoverable={first !== undefined}
      className="app-card"
      data-testid={`app-card-${app.name}`}
      data-app-name={app.name}
      title={
        <Space size="small">
          <AppstoreOutlined style={{ color: '#1677ff' }} />
          <span data-testid={`app-label-${app.name}`} className="app-card-label">
            {label}
          </span>
        </Space>
      }
      extra={
        <Tooltip title={t('apps.version')}>
          <Tag data-testid={`app-version-${app.name}`}>v{app.version}</Tag>
        </Tooltip>
      }
    >
      <Typography.Text code data-testid={`app-slug-${app.name}`}>
        {app.name}
      </Typography.Text>
      <Typography.Paragraph
        type={description ? undefined : 'secondary'}
        ellipsis={{ rows: 2, tooltip: description || undefined }}
        className="app-card-desc"
      >
        {description || t('apps.noDescription')}
      </Typography.Paragraph>
      <div className="app-card-meta">
        <Typography.Text type="secondary" data-testid={`app-entities-${app.name}`}>
          <DatabaseOutlined />{' '}
          {entityCount === 1 ? t('apps.entityCount.one') : t('apps.entityCount', { n: entityCount })}
        </Typography.Text>
        <Tooltip title={t('apps.updatedAtDate', { date: formatDateTime(app.updated_at, lang) })}>
          <Typography.Text type="secondary" className="app-card-date">
            {formatDateTime(app.updated_at, lang)}
          </Typography.Text>
        </Tooltip>
      </div>
      {entityCount > 0 && !first && (
        <Typography.Text type="secondary" className="app-card-note">
          {t('apps.noReadable')}
        </Typography.Text>
      )}
    </Card>
  );
  // The card opens the app at its first entity the caller may read.
  return first ? (
    <Link to={`/apps/${app.name}/${first.name}`} aria-label={t('apps.open')} data-testid={`app-open-${app.name}`}>
      {card}
    </Link>
  ) : (
    card
  );
}

export function AppsPage() {
  const { t } = useI18n();
  const { user } = useSession();
  const caller = useCaller();
  const query = useApps();
  const apps = query.data ?? null;
  const error = query.error ? toProblem(query.error) : null;
  const [creating, setCreating] = useState(false);
  const [gallery, setGallery] = useState(false);
  const navigate = useNavigate();

  const reload = () => void query.refetch();

  const templatesButton = (
    <Button icon={<AppstoreAddOutlined />} onClick={() => setGallery(true)} data-testid="templates-open">
      {t('templates.open')}
    </Button>
  );
  const newAppButton = user.is_admin ? (
    <>
      {templatesButton}
      <Button type="primary" icon={<PlusOutlined />} onClick={() => setCreating(true)} data-testid="new-app">
        {t('apps.new')}
      </Button>
    </>
  ) : null;

  let body;
  if (error && !apps) {
    body = null;
  } else if (!apps) {
    body = (
      <Row gutter={[16, 16]} data-testid="apps-loading">
        {[0, 1, 2].map((i) => (
          <Col key={i} xs={24} sm={12} lg={8} xxl={6}>
            <Card loading />
          </Col>
        ))}
      </Row>
    );
  } else if (apps.length === 0) {
    body = (
      <Card data-testid="apps-empty">
        <Empty
          image={Empty.PRESENTED_IMAGE_SIMPLE}
          description={
            <Space direction="vertical" size={2}>
              <Typography.Text strong>{t('apps.empty')}</Typography.Text>
              <Typography.Text type="secondary">
                {user.is_admin ? t('apps.empty.admin') : t('apps.empty.user')}
              </Typography.Text>
            </Space>
          }
        >
          {user.is_admin && (
            <Space>
              <Button type="primary" icon={<AppstoreAddOutlined />} onClick={() => setGallery(true)}>
                {t('templates.open')}
              </Button>
              <Button icon={<PlusOutlined />} onClick={() => setCreating(true)}>
                {t('apps.new')}
              </Button>
            </Space>
          )}
        </Empty>
      </Card>
    );
  } else {
    body = (
      <Row gutter={[16, 16]} data-testid="apps-list">
        {apps.map((app) => (
          <Col key={app.name} xs={24} sm={12} lg={8} xxl={6}>
            <AppCard app={app} caller={caller} />
          </Col>
        ))}
      </Row>
    );
  }

  return (
    <div className="page">
      <div className="page-head">
        <div>
          <Typography.Title level={3} style={{ margin: 0 }}>
            {t('apps.title')}
          </Typography.Title>
          <Typography.Text type="secondary" data-testid="apps-count">
            {apps
              ? apps.length === 1
                ? t('apps.count.one')
                : t('apps.count', { n: apps.length })
              : t('apps.subtitle')}
          </Typography.Text>
        </div>
        <Space>
          <Button
            icon={<ReloadOutlined />}
            onClick={reload}
            loading={query.isFetching && apps !== null}
            data-testid="apps-refresh"
          >
            {t('apps.refresh')}
          </Button>
          {newAppButton}
        </Space>
      </div>

      {error && (
        <Alert
          type="error"
          showIcon
          data-testid="apps-error"
          className="page-alert"
          message={t('apps.loadFailed')}
          description={error.displayMessage}
          action={
            <Button size="small" onClick={reload}>
              {t('session.retry')}
            </Button>
          }
        />
      )}

      {body}

      {user.is_admin && (
        <TemplatesModal
          open={gallery}
          onClose={() => setGallery(false)}
          onInstalled={(out) => {
            setGallery(false);
            // The new app opens at once (its first entity, as the apps page would).
            if (out.applied) void navigate(`/apps/${out.app}`);
          }}
        />
      )}

      {user.is_admin && (
        <CreateAppModal
          open={creating}
          onClose={() => setCreating(false)}
          onCreated={() => setCreating(false)}
        />
      )}
    </div>
  );
}
