import { Typography } from 'antd';
import { useI18n } from '../i18n';

export function Logo({ size = 28 }: { size?: number }) {
  return (
    <svg width={size} height={size} viewBox="0 0 32 32" aria-hidden="true">
      <rect width="32" height="32" rx="7" fill="#1677ff" />
      <path
        d="M9 9h14M16 9v14M9 16h4M19 16h4M9 23h4M19 23h4"
        stroke="#fff"
        strokeWidth="2.6"
        strokeLinecap="round"
      />
    </svg>
  );
}

export function Brand({ showTagline = false }: { showTagline?: boolean }) {
  const { t } = useI18n();
  return (
    <span className="brand" data-testid="brand">
      <Logo />
      <Typography.Text strong className="brand-name">
        {t('app.name')}
      </Typography.Text>
      {showTagline && <Typography.Text type="secondary">{t('app.tagline')}</Typography.Text>}
    </span>
  );
}
