import { Segmented } from 'antd';
import { LANGS, useI18n, type Lang } from './i18n';

export function LangSwitch() {
  const { lang, setLang, t } = useI18n();
  return (
    <Segmented<Lang>
      size="small"
      aria-label={t('lang.switch')}
      data-testid="lang-switch"
      value={lang}
      onChange={setLang}
      options={LANGS.map((l) => ({
        value: l,
        label: <span data-testid={`lang-${l}`}>{t(`lang.${l}`)}</span>,
      }))}
    />
  );
}
