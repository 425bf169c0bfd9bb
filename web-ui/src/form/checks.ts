// The client's checks of a form value, mirroring the server's (`CompiledField::coerce` and the
// write path's `required`): required, length, pattern, bounds, formats, choices, scale. What the
// client cannot know (unique values, validation rules, related records) the server answers.

import type { FieldDef } from '../api';
import type { MessageKey } from '../i18n';
import { isEmpty } from './fields';

/** A failed check: the message's key and its values. */
export interface Check {
  key: MessageKey;
  vars?: Record<string, string | number>;
}

function isValidEmail(s: string): boolean {
  const at = s.indexOf('@');
  if (at <= 0) return false;
  const local = s.slice(0, at);
  const domain = s.slice(at + 1);
  return (
    local.length <= 64 &&
    domain.includes('.') &&
    !domain.startsWith('.') &&
    !domain.endsWith('.') &&
    !domain.includes('@') &&
    s.length <= 254 &&
    !/[\s\p{Cc}]/u.test(s)
  );
}

function isValidUrl(s: string): boolean {
  const rest = s.startsWith('https://') ? s.slice(8) : s.startsWith('http://') ? s.slice(7) : null;
  if (rest === null) return false;
  const host = rest.split(/[/?#]/)[0];
  return host !== '' && s.length <= 2048 && !/[\s\p{Cc}]/u.test(s);
}

function isValidPhone(s: string): boolean {
  const digits = [...s].filter((c) => c >= '0' && c <= '9').length;
  return digits >= 5 && digits <= 20 && /^[0-9 +\-()]*$/.test(s) && !s.slice(1).includes('+');
}

/** The field's pattern as a whole-value regular expression (`null` when JavaScript cannot read it). */
export function patternOf(field: Pick<FieldDef, 'pattern'>): RegExp | null {
  if (!field.pattern) return null;
  try {
    return new RegExp(`^(?:${field.pattern})$`, 'u');
  } catch {
    return null;
  }
}

function asNumber(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return null;
}

function decimals(n: number | string): number {
  const s = String(n);
  if (/e/i.test(s)) return 0;
  const dot = s.indexOf('.');
  return dot < 0 ? 0 : s.length - dot - 1;
}

function bounds(field: FieldDef, value: number | string): Check | null {
  const cmp = (b: number | string) =>
    typeof value === 'number' ? value - Number(b) : String(value).localeCompare(String(b));
  if (field.min !== undefined && field.min !== null && cmp(field.min) < 0) {
    return { key: 'form.check.min', vars: { min: String(field.min) } };
  }
  if (field.max !== undefined && field.max !== null && cmp(field.max) > 0) {
    return { key: 'form.check.max', vars: { max: String(field.max) } };
  }
  return null;
}

/** The first check a form value fails, or `null`. */
export function checkValue(field: FieldDef, value: unknown): Check | null {
  if (isEmpty(field, value)) return field.required ? { key: 'form.check.required' } : null;
  switch (field.type) {
    case 'text':
    case 'long_text':
    case 'email':
    case 'url':
    case 'phone': {
      const s = String(value);
      const len = [...s].length;
      if (field.min_length !== undefined && len < field.min_length) {
        return { key: 'form.check.minLength', vars: { n: field.min_length } };
      }
      if (field.max_length !== undefined && len > field.max_length) {
        return { key: 'form.check.maxLength', vars: { n: field.max_length } };
      }
      const re = patternOf(field);
      if (re && !re.test(s)) return { key: 'form.check.pattern' };
      if (field.type === 'email' && !isValidEmail(s)) return { key: 'form.check.email' };
      if (field.type === 'url' && !isValidUrl(s)) return { key: 'form.check.url' };
      if (field.type === 'phone' && !isValidPhone(s)) return { key: 'form.check.phone' };
      return null;
    }
    case 'integer': {
      const n = asNumber(value);
      if (n === null || !Number.isInteger(n)) return { key: 'form.check.integer' };
      return bounds(field, n);
    }
    case 'decimal':
    case 'percent':
    case 'currency': {
      const raw = field.type === 'currency' ? (value as { amount?: unknown; currency?: unknown }) : null;
      const n = asNumber(raw ? raw.amount : value);
      if (n === null) return { key: 'form.check.number' };
      const scale = field.scale ?? 2;
      if (decimals(raw ? (raw.amount as number) : (value as number)) > scale) {
        return { key: 'form.check.scale', vars: { n: scale } };
      }
      if (raw) {
        const code = raw.currency ?? field.currency;
        if (typeof code !== 'string' || code === '') return { key: 'form.check.currencyRequired' };
        if (!/^[A-Z]{3}$/.test(code)) return { key: 'form.check.currency' };
      }
      return bounds(field, n);
    }
    case 'date':
    case 'datetime':
      return typeof value === 'string' ? bounds(field, value) : null;
    case 'single_select':
      return (field.options ?? []).some((o) => o.value === value) ? null : { key: 'form.check.option' };
    case 'multi_select': {
      const items = value as unknown[];
      if (!items.every((v) => (field.options ?? []).some((o) => o.value === v))) return { key: 'form.check.option' };
      if (field.min_length !== undefined && items.length < field.min_length) {
        return { key: 'form.check.minItems', vars: { n: field.min_length } };
      }
      if (field.max_length !== undefined && items.length > field.max_length) {
        return { key: 'form.check.maxItems', vars: { n: field.max_length } };
      }
      return null;
    }
    case 'attachment': {
      const max = Math.min(field.max_files ?? 100, 100);
      return (value as unknown[]).length > max ? { key: 'form.check.maxFiles', vars: { n: max } } : null;
    }
    case 'json':
      try {
        JSON.parse(String(value));
        return null;
      } catch {
        return { key: 'form.check.json' };
      }
    default:
      return null;
  }
}
