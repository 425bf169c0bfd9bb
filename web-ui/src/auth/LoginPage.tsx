import { Alert, Button, Card, Form, Input, Typography } from 'antd';
import { LockOutlined, MailOutlined } from '@ant-design/icons';
import { Navigate, useLocation } from 'react-router';
import { useAuth } from './AuthProvider';
import { Logo } from '../shared/Brand';
import { LangSwitch } from '../i18n';
import { useI18n } from '../i18n';

interface LoginValues {
  email: string;
  password: string;
}

/** Only same-app paths are followed after login (no open redirect). */
function safeFrom(state: unknown): string {
  const from = (state as { from?: unknown } | null)?.from;
  return typeof from === 'string' && from.startsWith('/') && !from.startsWith('//') && from !== '/login'
    ? from
    : '/';
}

export function LoginPage() {
  const { t } = useI18n();
  const { state, login } = useAuth();
  const location = useLocation();
  const submitting = login.isPending;
  const error = login.error;

  if (state.status === 'authenticated') {
    return <Navigate to={safeFrom(location.state)} replace />;
  }

  const onFinish = ({ email, password }: LoginValues) => login.mutate({ email: email.trim(), password });

  const expired = state.status === 'anonymous' && state.expired && !error;

  return (
    <div className="login-page" data-testid="login-page">
      <div className="login-lang">
        <LangSwitch />
      </div>
      <Card className="login-card" variant="borderless">
        <div className="login-head">
          <Logo size={40} />
          <Typography.Title level={3} style={{ margin: '12px 0 4px' }}>
            {t('login.title')}
          </Typography.Title>
          <Typography.Text type="secondary">{t('app.tagline')}</Typography.Text>
        </div>

        {expired && (
          <Alert type="info" showIcon message={t('session.expired')} className="login-alert" />
        )}
        {error && (
          <Alert
            type="error"
            showIcon
            className="login-alert"
            data-testid="login-error"
            message={t('login.failed')}
            description={error.displayMessage}
          />
        )}

        <Form<LoginValues>
          name="login"
          layout="vertical"
          requiredMark={false}
          onFinish={onFinish}
          disabled={submitting}
          size="large"
        >
          <Form.Item
            label={t('login.email')}
            name="email"
            rules={[
              { required: true, whitespace: true, message: t('login.email.required') },
              { pattern: /^\s*[^\s@]+@[^\s@]+\s*$/, message: t('login.email.invalid') },
            ]}
          >
            <Input
              prefix={<MailOutlined />}
              autoComplete="username"
              inputMode="email"
              autoFocus
              data-testid="login-email"
            />
          </Form.Item>
          <Form.Item
            label={t('login.password')}
            name="password"
            rules={[{ required: true, message: t('login.password.required') }]}
          >
            <Input.Password
              prefix={<LockOutlined />}
              autoComplete="current-password"
              data-testid="login-password"
            />
          </Form.Item>
          <Form.Item style={{ marginBottom: 0 }}>
            <Button
              type="primary"
              htmlType="submit"
              block
              loading={submitting}
              data-testid="login-submit"
            >
              {t('login.submit')}
            </Button>
          </Form.Item>
        </Form>
      </Card>
    </div>
  );
}
