// One app: a side menu of the entities the caller may read, the app's shared views and the
// caller's personal views, and
// the page of the chosen one beside it.

import { useMemo } from 'react';
import { Alert, Layout, Menu, Result, Spin } from 'antd';
import { DatabaseOutlined, EyeOutlined, UserOutlined } from '@ant-design/icons';
import { Navigate, Outlet, useLocation, useNavigate, useParams } from 'react-router';
import { toProblem } from '../api';
import { useAppDef, useCaller } from '../apps/queries';
import { readableEntities } from '../apps/rights';
import { localize, useI18n } from '../i18n';
import type { AppOutlet } from './AppContext';
import { useMyViews } from '../grid/viewQueries';

export function AppShell() {
  const { app: name = '' } = useParams();
  const { lang, t } = useI18n();
  const navigate = useNavigate();
  const location = useLocation();
  const caller = useCaller();
  const def = useAppDef(name);
  const app = def.data;

  const entities = useMemo(() => (app ? readableEntities(app, caller) : []), [app, caller]);
  const views = useMemo(
    () => (app?.views ?? []).filter((v) => entities.some((e) => e.name === v.entity)),
    [app, entities],
  );
  const myViews = useMyViews(name);
  const mine = useMemo(
    () => (myViews.data ?? []).map((v) => v.view).filter((v) => entities.some((e) => e.name === v.entity)),
    [myViews.data, entities],
  );

  if (def.isLoading) {
    return (
      <div className="full-page-center">
        <Spin size="large" />
      </div>
    );
  }
  if (def.error || !app) {
    const err = def.error ? toProblem(def.error) : null;
    return err?.status === 404 || err?.status === 403 ? (
      <Result status="404" title={t('app.notFound')} data-testid="app-not-found" />
    ) : (
      <Alert type="error" showIcon message={t('app.loadFailed')} description={err?.displayMessage} />
    );
  }

  const rest = location.pathname.split('/').slice(3);
  const selected =
    rest[0] === 'views' ? `v:${rest[1] ?? ''}` : rest[0] === 'my' ? `m:${rest[1] ?? ''}` : `e:${rest[0] ?? ''}`;

  const items = [
    {
      type: 'group' as const,
      key: 'entities',
      label: t('nav.entities'),
      children: entities.map((e) => ({
        key: `e:${e.name}`,
        icon: <DatabaseOutlined />,
        label: <span data-testid={`nav-entity-${e.name}`}>{localize(e.label, lang) || e.name}</span>,
      })),
    },
    ...(views.length
      ? [
          {
            type: 'group' as const,
            key: 'views',
            label: t('nav.views'),
            children: views.map((v) => ({
              key: `v:${v.name}`,
              icon: <EyeOutlined />,
              label: <span data-testid={`nav-view-${v.name}`}>{localize(v.label, lang) || v.name}</span>,
            })),
          },
        ]
      : []),
    ...(mine.length
      ? [
          {
            type: 'group' as const,
            key: 'my',
            label: t('nav.myViews'),
            children: mine.map((v) => ({
              key: `m:${v.name}`,
              icon: <UserOutlined />,
              label: <span data-testid={`nav-my-${v.name}`}>{localize(v.label, lang) || v.name}</span>,
            })),
          },
        ]
      : []),
  ];

  const outlet: AppOutlet = { app, caller };
  return (
    <Layout className="app-shell">
      <Layout.Sider
        width={220}
        breakpoint="md"
        collapsedWidth={0}
        theme="light"
        className="app-sider"
        data-testid="app-sider"
        zeroWidthTriggerStyle={{ top: 8 }}
      >
        <div className="app-sider-title" data-testid="app-title">
          {localize(app.label, lang) || app.name}
        </div>
        <Menu
          mode="inline"
          selectedKeys={[selected]}
          items={items}
          onClick={({ key }) => {
            const [kind, n] = [key.slice(0, 1), key.slice(2)];
            const base = `/apps/${app.name}`;
            navigate(kind === 'v' ? `${base}/views/${n}` : kind === 'm' ? `${base}/my/${n}` : `${base}/${n}`);
          }}
        />
      </Layout.Sider>
      <Layout.Content className="app-main">
        {entities.length === 0 ? (
          <Result status="info" title={t('app.noReadable')} data-testid="app-no-entities" />
        ) : (
          <Outlet context={outlet} />
        )}
      </Layout.Content>
    </Layout>
  );
}

/** `/apps/:app`: the first entity the caller may read. */
export function AppIndex() {
  const { app: name = '' } = useParams();
  const caller = useCaller();
  const def = useAppDef(name);
  const first = def.data ? readableEntities(def.data, caller)[0] : undefined;
  return first ? <Navigate to={`/apps/${name}/${first.name}`} replace /> : null;
}
