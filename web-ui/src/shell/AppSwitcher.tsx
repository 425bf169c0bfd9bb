import { Select } from 'antd';
import { AppstoreOutlined } from '@ant-design/icons';
import { useMatch, useNavigate } from 'react-router';
import { useApps } from '../api/queries/apps';
import { localize, useI18n } from '../i18n';

/** The header's app switcher: every app of the caller, the current one chosen. */
export function AppSwitcher() {
  const { lang, t } = useI18n();
  const navigate = useNavigate();
  const match = useMatch('/apps/:app/*');
  const apps = useApps();
  const current = match?.params.app;
  return (
    <Select
      className="app-switcher"
      data-testid="app-switcher"
      aria-label={t('nav.switchApp')}
      placeholder={
        <span>
          <AppstoreOutlined /> {t('nav.switchApp')}
        </span>
      }
      value={current}
      loading={apps.isLoading}
      popupMatchSelectWidth={false}
      onChange={(name: string) => navigate(name === '' ? '/' : `/apps/${name}`)}
      options={[
        { value: '', label: <span data-testid="switch-all-apps">{t('nav.apps')}</span> },
        ...(apps.data ?? []).map((a) => ({
          value: a.name,
          label: <span data-testid={`switch-app-${a.name}`}>{localize(a.label, lang) || a.name}</span>,
        })),
      ]}
    />
  );
}
