// UI strings and the helpers that pick a language.
//
// Two languages, Chinese first: every key must exist in both dictionaries
// (the `Messages` type enforces it).

import { createContext, useContext } from 'react';
import type { LocalizedText } from '../api';
import { en, zh, type MessageKey, type Messages } from './messages';

export type { MessageKey } from './messages';

export type Lang = 'zh' | 'en';
export const LANGS: readonly Lang[] = ['zh', 'en'];
export const LANG_KEY = 'trellis.lang';

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

/** The language tag the server keeps for a user (`zh-CN`, `en-US`). */
export type LangTag = 'zh-CN' | 'en-US';

export function langTag(lang: Lang): LangTag {
  return lang === 'zh' ? 'zh-CN' : 'en-US';
}

/** The UI's language for a tag the server keeps, none for an unknown one or none. */
export function langOfTag(tag: string | null | undefined): Lang | null {
  if (tag === 'zh-CN') return 'zh';
  if (tag === 'en-US') return 'en';
  return null;
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
