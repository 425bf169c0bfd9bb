import type { ReactNode } from 'react';
import { Alert, Button, Space, Spin } from 'antd';
import { Navigate, useLocation } from 'react-router';
import { useAuth } from './AuthProvider';
import { useI18n } from '../i18n';

export function FullPageSpin({ tip }: { tip: string }) {
  return (
    <div className="full-page-center" data-testid="session-loading">
      <Spin size="large" tip={tip}>
        <div style={{ width: 160, height: 80 }} />
      </Spin>
    </div>
  );
}

/** Renders children with a session; sends everyone else to /login. */
export function RequireAuth({ children }: { children: ReactNode }) {
  const { state, retry, logout } = useAuth();
  const { t } = useI18n();
  const location = useLocation();

  switch (state.status) {
    case 'loading':
      return <FullPageSpin tip={t('session.loading')} />;
    case 'error':
      return (
        <div className="full-page-center">
          <Alert
            type="warning"
            showIcon
            data-testid="session-error"
            style={{ maxWidth: 480, width: '100%' }}
            message={t('session.error')}
            description={state.error.displayMessage}
            action={
              <Space direction="vertical">
                <Button size="small" type="primary" onClick={retry} block>
                  {t('session.retry')}
                </Button>
                <Button size="small" onClick={logout} block>
                  {t('header.logout')}
                </Button>
              </Space>
            }
          />
        </div>
      );
    case 'anonymous':
      return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
    case 'authenticated':
      return <>{children}</>;
  }
}
