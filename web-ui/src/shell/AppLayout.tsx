import { lazy, Suspense } from 'react';
import { Avatar, Button, Divider, Layout, Space, Tag, Tooltip, Typography } from 'antd';
import { LogoutOutlined, UserOutlined } from '@ant-design/icons';
import { Link, Outlet } from 'react-router';
import { useAuth, useSession } from '../auth';
import { useI18n } from '../i18n';
import { Brand } from '../shared/Brand';
import { LangSwitch } from '../i18n';

// The switcher's select loads after the page: it is not what a first look needs.
const AppSwitcher = lazy(() => import('./AppSwitcher').then((m) => ({ default: m.AppSwitcher })));
// So does the bell: its count arrives a moment after the page.
const NotificationBell = lazy(() => import('./NotificationBell').then((m) => ({ default: m.NotificationBell })));

export function AppLayout() {
  const { t } = useI18n();
  const { logout, rememberLanguage } = useAuth();
  const { user, tenant } = useSession();

  return (
    <Layout className="app-layout">
      <Layout.Header className="app-header" data-testid="app-header">
        <Space size="middle" className="app-header-left">
          <Link to="/" aria-label={t('nav.apps')} data-testid="home-link">
            <Brand />
          </Link>
          <Suspense fallback={<span className="app-switcher" style={{ display: 'inline-block' }} />}>
            <AppSwitcher />
          </Suspense>
          {tenant && (
            <span className="hide-sm app-tenant">
              <Divider type="vertical" />
              <Typography.Text type="secondary" data-testid="tenant-name" ellipsis>
                {tenant.name}
              </Typography.Text>
            </span>
          )}
        </Space>
        <Space size="middle" className="app-header-right">
          <Suspense fallback={<span className="notif-bell-slot" />}>
            <NotificationBell />
          </Suspense>
          <LangSwitch onChange={rememberLanguage} />
          <Space size="small" className="app-user">
            <Avatar size="small" icon={<UserOutlined />} />
            <Tooltip title={user.name || undefined}>
              <Typography.Text data-testid="user-email" className="hide-sm" ellipsis>
                {user.email}
              </Typography.Text>
            </Tooltip>
            {user.is_admin && (
              <Tag color="blue" className="hide-sm">
                {t('header.admin')}
              </Tag>
            )}
          </Space>
          <Tooltip title={t('header.logout')}>
            <Button icon={<LogoutOutlined />} onClick={logout} data-testid="logout" aria-label={t('header.logout')}>
              <span className="hide-sm">{t('header.logout')}</span>
            </Button>
          </Tooltip>
        </Space>
      </Layout.Header>
      <Layout.Content className="app-content">
        <Outlet />
      </Layout.Content>
    </Layout>
  );
}
