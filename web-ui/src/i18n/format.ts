// Dates, numbers and money in the user's language, with `Intl` (formatters are cached: a grid
// formats thousands of cells).

import type { Lang } from './i18n';

export function localeTag(lang: Lang): string {
  return lang === 'zh' ? 'zh-CN' : 'en-US';
}

const cache = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat>();

function numberFormat(lang: Lang, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `n|${lang}|${JSON.stringify(options)}`;
  let f = cache.get(key) as Intl.NumberFormat | undefined;
  if (!f) {
    f = new Intl.NumberFormat(localeTag(lang), options);
    cache.set(key, f);
  }
  return f;
}

function dateFormat(lang: Lang, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  const key = `d|${lang}|${JSON.stringify(options)}`;
  let f = cache.get(key) as Intl.DateTimeFormat | undefined;
  if (!f) {
    f = new Intl.DateTimeFormat(localeTag(lang), options);
    cache.set(key, f);
  }
  return f;
}

/** A number; `scale` fixes the digits after the point (decimal fields). */
export function formatNumber(value: number, lang: Lang, scale?: number): string {
  const options: Intl.NumberFormatOptions =
    scale === undefined ? {} : { minimumFractionDigits: scale, maximumFractionDigits: scale };
  return numberFormat(lang, options).format(value);
}

/** A percentage as stored (`12.5` is 12.5 %). */
export function formatPercent(value: number, lang: Lang, scale = 2): string {
  return numberFormat(lang, { style: 'percent', maximumFractionDigits: scale }).format(value / 100);
}

/** An amount with its ISO 4217 code (`CNY 1,234.50`), never a symbol that two currencies share. */
export function formatCurrency(amount: number, currency: string, lang: Lang, scale = 2): string {
  try {
    return numberFormat(lang, {
      style: 'currency',
      currency,
      currencyDisplay: 'code',
      minimumFractionDigits: scale,
      maximumFractionDigits: scale,
    }).format(amount);
  } catch {
    return `${formatNumber(amount, lang, scale)} ${currency}`;
  }
}

/** A calendar date (`YYYY-MM-DD`): the same day everywhere, whatever the zone. */
export function formatDate(iso: string, lang: Lang): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso);
  if (!m) return formatDateTime(iso, lang);
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return dateFormat(lang, { dateStyle: 'medium', timeZone: 'UTC' }).format(d);
}

/** An instant (RFC 3339) in the user's time zone. */
export function formatDateTime(iso: string, lang: Lang, timeZone?: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return dateFormat(lang, { dateStyle: 'medium', timeStyle: 'short', timeZone }).format(d);
}
