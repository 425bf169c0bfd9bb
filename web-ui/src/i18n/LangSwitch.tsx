import { Segmented } from 'antd';
import { LANGS, useI18n, type Lang } from './i18n';

/** The language switch; `onChange` hears a choice the user made (the header remembers it for them). */
export function LangSwitch({ onChange }: { onChange?: (lang: Lang) => void } = {}) {
  const { lang, setLang, t } = useI18n();
  return (
    <Segmented<Lang>
      size="small"
      aria-label={t('lang.switch')}
      data-testid="lang-switch"
      value={lang}
      onChange={(l) => {
        setLang(l);
        onChange?.(l);
      }}
      options={LANGS.map((l) => ({
        value: l,
        label: <span data-testid={`lang-${l}`}>{t(`lang.${l}`)}</span>,
      }))}
    />
  );
}
