// UI strings and the helpers that pick a language.
//
// Two languages, Chinese first: every key must exist in both dictionaries
// (the `Messages` type enforces it).

import { createContext, useContext } from 'react';
import type { LocalizedText } from './api';

export type Lang = 'zh' | 'en';
export const LANGS: readonly Lang[] = ['zh', 'en'];
export const LANG_KEY = 'trellis.lang';

const zh = {
  'app.name': 'Trellis',
  'app.tagline': '低代码工作流引擎',
  'lang.zh': '中文',
  'lang.en': 'English',
  'lang.switch': '切换语言',

  'login.title': '登录 Trellis',
  'login.email': '邮箱',
  'login.email.required': '请输入邮箱',
  'login.email.invalid': '邮箱格式不正确',
  'login.password': '密码',
  'login.password.required': '请输入密码',
  'login.submit': '登录',
  'login.failed': '登录失败',
  'login.subtitle': '使用你的账号登录',

  'header.logout': '退出登录',
  'header.admin': '管理员',

  'session.loading': '正在加载…',
  'session.error': '无法连接服务器',
  'session.retry': '重试',
  'session.expired': '登录已过期，请重新登录',

  'apps.title': '应用',
  'apps.subtitle': '当前租户下的所有应用',
  'apps.new': '新建应用',
  'apps.refresh': '刷新',
  'apps.empty': '还没有应用',
  'apps.empty.admin': '新建一个应用开始吧',
  'apps.empty.user': '请联系管理员创建应用',
  'apps.loadFailed': '加载应用失败',
  'apps.version': '版本',
  'apps.entities': '实体',
  'apps.entityCount': '{n} 个实体',
  'apps.entityCount.one': '1 个实体',
  'apps.updatedAt': '更新于',
  'apps.noDescription': '暂无描述',
  'apps.count': '共 {n} 个应用',
  'apps.count.one': '共 1 个应用',

  'create.title': '新建应用',
  'create.name': '标识',
  'create.name.help': '小写字母开头，只含小写字母、数字和下划线，最长 63 个字符',
  'create.name.required': '请输入应用标识',
  'create.name.invalid': '标识格式不正确',
  'create.labelZh': '中文名称',
  'create.labelEn': '英文名称',
  'create.label.required': '请输入名称',
  'create.submit': '创建',
  'create.cancel': '取消',
  'create.success': '应用“{label}”已创建',
  'create.failed': '创建失败',
} as const;

export type MessageKey = keyof typeof zh;
type Messages = Record<MessageKey, string>;

const en: Messages = {
  'app.name': 'Trellis',
  'app.tagline': 'Low-code workflow engine',
  'lang.zh': '中文',
  'lang.en': 'English',
  'lang.switch': 'Switch language',

  'login.title': 'Sign in to Trellis',
  'login.email': 'Email',
  'login.email.required': 'Please enter your email',
  'login.email.invalid': 'This is not a valid email',
  'login.password': 'Password',
  'login.password.required': 'Please enter your password',
  'login.submit': 'Sign in',
  'login.failed': 'Sign-in failed',
  'login.subtitle': 'Use your account to continue',

  'header.logout': 'Log out',
  'header.admin': 'Admin',

  'session.loading': 'Loading…',
  'session.error': 'Cannot reach the server',
  'session.retry': 'Retry',
  'session.expired': 'Your session has expired, please sign in again',

  'apps.title': 'Apps',
  'apps.subtitle': 'All apps of your tenant',
  'apps.new': 'New app',
  'apps.refresh': 'Refresh',
  'apps.empty': 'No apps yet',
  'apps.empty.admin': 'Create an app to get started',
  'apps.empty.user': 'Ask an administrator to create one',
  'apps.loadFailed': 'Could not load apps',
  'apps.version': 'Version',
  'apps.entities': 'Entities',
  'apps.entityCount': '{n} entities',
  'apps.entityCount.one': '1 entity',
  'apps.updatedAt': 'Updated',
  'apps.noDescription': 'No description',
  'apps.count': '{n} apps',
  'apps.count.one': '1 app',

  'create.title': 'New app',
  'create.name': 'Name',
  'create.name.help':
    'Starts with a lowercase letter; lowercase letters, digits and underscores; up to 63 characters',
  'create.name.required': 'Please enter the app name',
  'create.name.invalid': 'Invalid name',
  'create.labelZh': 'Chinese label',
  'create.labelEn': 'English label',
  'create.label.required': 'Please enter a label',
  'create.submit': 'Create',
  'create.cancel': 'Cancel',
  'create.success': 'App “{label}” created',
  'create.failed': 'Could not create the app',
};

export const messages: Record<Lang, Messages> = { zh, en };

export function translate(
  lang: Lang,
  key: MessageKey,
  vars?: Record<string, string | number>,
): string {
  const template = messages[lang][key] ?? messages.zh[key] ?? key;
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (m, name: string) =>
    name in vars ? String(vars[name]) : m,
  );
}

/**
 * Text of a `{zh, en}` label in the wanted language, falling back to the
 * other language when that one is missing or blank.
 */
export function localize(text: Partial<LocalizedText> | null | undefined, lang: Lang): string {
  if (!text) return '';
  const other: Lang = lang === 'zh' ? 'en' : 'zh';
  const wanted = text[lang]?.trim();
  if (wanted) return wanted;
  return text[other]?.trim() ?? '';
}

/** Chinese for any zh* browser language, English otherwise. */
export function detectLang(languages: readonly string[] | undefined): Lang {
  const first = languages?.find((l) => typeof l === 'string' && l !== '');
  if (!first) return 'zh';
  return first.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

/** The saved choice if any, else the browser's language. */
export function initialLang(): Lang {
  try {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved === 'zh' || saved === 'en') return saved;
  } catch {
    /* ignore */
  }
  if (typeof navigator === 'undefined') return 'zh';
  const langs = navigator.languages?.length ? navigator.languages : [navigator.language];
  return detectLang(langs);
}

export function saveLang(lang: Lang): void {
  try {
    localStorage.setItem(LANG_KEY, lang);
  } catch {
    /* ignore */
  }
}

export interface I18n {
  lang: Lang;
  setLang: (lang: Lang) => void;
  t: (key: MessageKey, vars?: Record<string, string | number>) => string;
}

export const I18nContext = createContext<I18n>({
  lang: 'zh',
  setLang: () => {},
  t: (key, vars) => translate('zh', key, vars),
});

export function useI18n(): I18n {
  return useContext(I18nContext);
}
