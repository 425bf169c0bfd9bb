import { useState } from 'react';
import { Alert, App as AntApp, Button, Card, Empty, Input, List, Modal, Space, Spin, Tag, Typography } from 'antd';
import { AppstoreAddOutlined, CheckCircleOutlined, EyeOutlined } from '@ant-design/icons';
import { toProblem, type ElementChange, type InstallOut, type Template } from '../api';
import { useInstallTemplate, useTemplates } from '../api/queries/templates';
import { localize, useI18n, type MessageKey } from '../i18n';
import { SLUG_MAX, SLUG_RE } from '../shared/slug';

export const CHANGE_LABEL: Record<ElementChange['change'], MessageKey> = {
  added: 'templates.change.added',
  changed: 'templates.change.changed',
  renamed: 'templates.change.renamed',
  removed: 'templates.change.removed',
  kept: 'templates.change.kept',
};

export const KIND_LABEL: Record<ElementChange['kind'], MessageKey> = {
  entity: 'templates.kind.entity',
  field: 'templates.kind.field',
  role: 'templates.kind.role',
  rule: 'templates.kind.rule',
  view: 'templates.kind.view',
  form: 'templates.kind.form',
  dashboard: 'templates.kind.dashboard',
  calendar: 'templates.kind.calendar',
};

const CHANGE_COLORS: Record<ElementChange['change'], string> = {
  added: 'green',
  changed: 'blue',
  renamed: 'purple',
  removed: 'red',
  kept: 'orange',
};

/** What an install adds, changes, renames, removes and keeps, element by element. */
function Plan({ out }: { out: InstallOut }) {
  const { t, lang } = useI18n();
  const title = out.from_version
    ? t('templates.plan.upgrade', { from: out.from_version, version: out.version })
    : t('templates.plan', { version: out.version });
  return (
    <div data-testid="template-plan" className="template-plan">
      <Typography.Text strong>{title}</Typography.Text>
      {out.changes.length === 0 ? (
        <Typography.Paragraph type="secondary">{t('templates.plan.nothing')}</Typography.Paragraph>
      ) : (
        <List
          size="small"
          className="template-plan-list"
          dataSource={out.changes}
          renderItem={(c) => (
            <List.Item data-testid={`plan-${c.kind}-${c.entity ? `${c.entity}.` : ''}${c.name}`}>
              <Space size={6} wrap>
                <Tag color={CHANGE_COLORS[c.change]}>{t(CHANGE_LABEL[c.change])}</Tag>
                <Typography.Text type="secondary">{t(KIND_LABEL[c.kind])}</Typography.Text>
                {c.label && <Typography.Text>{localize(c.label, lang)}</Typography.Text>}
                <Typography.Text code>{c.entity ? `${c.entity}.${c.name}` : c.name}</Typography.Text>
                {c.from && <Typography.Text type="secondary">← {c.from}</Typography.Text>}
              </Space>
            </List.Item>
          )}
        />
      )}
      <Space size={12} wrap>
        {out.plan.length > 0 && (
          <Typography.Text type="secondary">{t('templates.plan.steps', { n: out.plan.length })}</Typography.Text>
        )}
        {out.conflicts.length > 0 && (
          <Typography.Text type="warning">{t('templates.plan.conflicts', { n: out.conflicts.length })}</Typography.Text>
        )}
      </Space>
    </div>
  );
}

function TemplateCard({ template, onInstalled }: { template: Template; onInstalled: (out: InstallOut) => void }) {
  const { t, lang } = useI18n();
  const { message } = AntApp.useApp();
  const install = useInstallTemplate();
  const [app, setApp] = useState(template.app);
  const [plan, setPlan] = useState<InstallOut | null>(null);
  const [error, setError] = useState<string | null>(null);
  const label = localize(template.label, lang) || template.package;
  const validName = SLUG_RE.test(app);

  const run = async (dryRun: boolean) => {
    setError(null);
    try {
      const out = await install.mutateAsync({ template: template.package, app, dryRun });
      if (dryRun) {
        setPlan(out);
        return;
      }
      message.success(t(out.applied ? 'templates.installed' : 'templates.upToDate', { label }));
      onInstalled(out);
    } catch (e) {
      const p = toProblem(e);
      setError([p.displayMessage, ...p.errors.slice(0, 5).map((f) => `${f.field}: ${f.message}`)].join('\n'));
    }
  };

  return (
    <Card
      className="template-card"
      data-testid={`template-${template.package}`}
      title={
        <Space size="small">
          <AppstoreAddOutlined style={{ color: '#1677ff' }} />
          <span>{label}</span>
          <Tag>{template.version}</Tag>
        </Space>
      }
    >
      <Typography.Paragraph>{localize(template.description, lang)}</Typography.Paragraph>
      <Typography.Paragraph type="secondary" data-testid={`template-counts-${template.package}`}>
        {t('templates.counts', {
          entities: template.entities,
          roles: template.roles,
          rules: template.rules,
          views: template.views,
          dashboards: template.dashboards,
        })}
      </Typography.Paragraph>
      {template.installed.length > 0 && (
        <Space size={4} wrap style={{ marginBottom: 12 }}>
          {template.installed.map((i) => (
            <Tag key={i.app} icon={<CheckCircleOutlined />} color="success">
              {t('templates.installedAs', { app: i.app, version: i.version })}
            </Tag>
          ))}
        </Space>
      )}
      <div className="template-install">
        <Typography.Text type="secondary">{t('templates.appName')}</Typography.Text>
        <Space.Compact style={{ width: '100%' }}>
          <Input
            value={app}
            maxLength={SLUG_MAX}
            status={validName ? undefined : 'error'}
            onChange={(e) => {
              setApp(e.target.value.trim());
              setPlan(null);
            }}
            spellCheck={false}
            data-testid={`template-app-${template.package}`}
            style={{ fontFamily: 'ui-monospace, SFMono-Regular, Menlo, Consolas, monospace' }}
          />
          <Button
            icon={<EyeOutlined />}
            disabled={!validName}
            loading={install.isPending && install.variables?.dryRun}
            onClick={() => void run(true)}
            data-testid={`template-preview-${template.package}`}
          >
            {t('templates.preview')}
          </Button>
          <Button
            type="primary"
            disabled={!validName}
            loading={install.isPending && !install.variables?.dryRun}
            onClick={() => void run(false)}
            data-testid={`template-install-${template.package}`}
          >
            {t('templates.install')}
          </Button>
        </Space.Compact>
        <Typography.Text type="secondary" className="template-help">
          {t('templates.appName.help')}
        </Typography.Text>
      </div>
      {error && (
        <Alert
          type="error"
          showIcon
          message={t('templates.failed')}
          description={<span style={{ whiteSpace: 'pre-line' }}>{error}</span>}
          style={{ marginTop: 12 }}
          data-testid={`template-error-${template.package}`}
        />
      )}
      {plan && <Plan out={plan} />}
    </Card>
  );
}

/** The gallery of shipped templates: preview each one's plan, install it under a name. */
export function TemplatesModal({
  open,
  onClose,
  onInstalled,
}: {
  open: boolean;
  onClose: () => void;
  onInstalled: (out: InstallOut) => void;
}) {
  const { t } = useI18n();
  const query = useTemplates(open);
  const error = query.error ? toProblem(query.error) : null;
  return (
    <Modal
      open={open}
      title={t('templates.title')}
      onCancel={onClose}
      width={880}
      destroyOnHidden
      footer={[
        <Button key="close" onClick={onClose} data-testid="templates-close">
          {t('templates.close')}
        </Button>,
      ]}
    >
      <Typography.Paragraph type="secondary">{t('templates.subtitle')}</Typography.Paragraph>
      {error && <Alert type="error" showIcon message={t('templates.loadFailed')} description={error.displayMessage} />}
      {query.isLoading && <Spin />}
      {query.data && query.data.length === 0 && <Empty />}
      <div className="template-grid" data-testid="templates">
        {query.data?.map((tpl) => <TemplateCard key={tpl.package} template={tpl} onInstalled={onInstalled} />)}
      </div>
    </Modal>
  );
}
