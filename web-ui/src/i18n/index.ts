// Language: the UI's messages in zh-CN and en-US, metadata labels, locale formats.
export * from './i18n';
export { I18nProvider } from './I18nProvider';
export { LangSwitch } from './LangSwitch';
export * from './format';
