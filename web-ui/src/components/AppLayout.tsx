import { Avatar, Button, Divider, Layout, Space, Tag, Tooltip, Typography } from 'antd';
import { LogoutOutlined, UserOutlined } from '@ant-design/icons';
import { Outlet } from 'react-router';
import { useAuth, useSession } from '../auth';
import { useI18n } from '../i18n';
import { Brand } from './Brand';
import { LangSwitch } from './LangSwitch';

export function AppLayout() {
  const { t } = useI18n();
  const { logout } = useAuth();
  const { user, tenant } = useSession();

  return (
    <Layout className="app-layout">
      <Layout.Header className="app-header" data-testid="app-header">
        <Space size="middle" className="app-header-left">
          <Brand />
          {tenant && (
            <>
              <Divider type="vertical" />
              <Typography.Text type="secondary" data-testid="tenant-name" ellipsis>
                {tenant.name}
              </Typography.Text>
            </>
          )}
        </Space>
        <Space size="middle" className="app-header-right">
          <LangSwitch />
          <Space size="small" className="app-user">
            <Avatar size="small" icon={<UserOutlined />} />
            <Tooltip title={user.name || undefined}>
              <Typography.Text data-testid="user-email" ellipsis>
                {user.email}
              </Typography.Text>
            </Tooltip>
            {user.is_admin && <Tag color="blue">{t('header.admin')}</Tag>}
          </Space>
          <Button icon={<LogoutOutlined />} onClick={logout} data-testid="logout">
            {t('header.logout')}
          </Button>
        </Space>
      </Layout.Header>
      <Layout.Content className="app-content">
        <Outlet />
      </Layout.Content>
    </Layout>
  );
}
