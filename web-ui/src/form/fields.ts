// Which input a field gets in the record form, which fields the form shows and edits, and the
// conversions between a record's JSON (as the API answers it) and the form's values.
//
// The form's values stay JSON (a date is "2026-12-04", a relation its id, a currency
// `{amount, currency}`, json its text), so a draft is stored as it is and a change is
// compared as it is.

import type { EntityDef, FieldDef } from '../api';

export type InputKind =
  | 'text'
  | 'textarea'
  | 'integer'
  | 'decimal'
  | 'percent'
  | 'currency'
  | 'select'
  | 'multiselect'
  | 'boolean'
  | 'date'
  | 'datetime'
  | 'email'
  | 'url'
  | 'phone'
  | 'user'
  | 'relation'
  | 'attachment'
  | 'json'
  | 'computed';

/** The input of a field, by its type; computed fields (formula, rollup, auto number) show their value only. */
export function inputKind(field: Pick<FieldDef, 'type' | 'formula' | 'rollup'>): InputKind {
  if (field.formula || field.rollup) return 'computed';
  switch (field.type) {
    case 'text':
      return 'text';
    case 'long_text':
      return 'textarea';
    case 'integer':
      return 'integer';
    case 'decimal':
      return 'decimal';
    case 'percent':
      return 'percent';
    case 'currency':
      return 'currency';
    case 'single_select':
      return 'select';
    case 'multi_select':
      return 'multiselect';
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'email':
      return 'email';
    case 'url':
      return 'url';
    case 'phone':
      return 'phone';
    case 'user':
      return 'user';
    case 'relation':
      return 'relation';
    case 'attachment':
      return 'attachment';
    case 'json':
      return 'json';
    case 'auto_number':
      return 'computed';
    default:
      return 'text';
  }
}

/** Inputs that take the whole width of the form. */
export function isWide(kind: InputKind): boolean {
  return kind === 'textarea' || kind === 'json' || kind === 'attachment' || kind === 'multiselect';
}

export interface FormField {
  field: FieldDef;
  kind: InputKind;
  /** Shown but not changeable: read-only for the caller's roles, or set by Trellis. */
  disabled: boolean;
}

/**
 * The fields of the form, in definition order. Fields hidden from the caller are not in the
 * definition the API answers; computed ones are shown (disabled) only on an existing record.
 */
export function formFields(
  entity: EntityDef,
  readOnly: ReadonlySet<string>,
  creating: boolean,
  /** System fields the form may set (`owner`), after the entity's. */
  system: readonly FieldDef[] = [],
): FormField[] {
  return [...(entity.fields ?? []), ...system].flatMap((field) => {
    const kind = inputKind(field);
    if (kind === 'computed' && creating) return [];
    return [{ field, kind, disabled: kind === 'computed' || readOnly.has(field.name) }];
  });
}

export type FormValues = Record<string, unknown>;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A record's value as the form holds it. */
export function toFormValue(field: FieldDef, value: unknown): unknown {
  if (value === undefined || value === null) {
    if (field.type === 'currency') return { amount: null, currency: field.currency ?? null };
    if (field.type === 'multi_select' || field.type === 'attachment') return [];
    return field.type === 'boolean' ? false : null;
  }
  switch (field.type) {
    case 'relation':
    case 'user':
      return isObject(value) ? String(value.id ?? '') || null : String(value);
    case 'currency':
      return isObject(value)
        ? { amount: value.amount ?? null, currency: value.currency ?? field.currency ?? null }
        : { amount: value, currency: field.currency ?? null };
    case 'json':
      return JSON.stringify(value, null, 2);
    default:
      return value;
  }
}

/** The form's starting values: the record's (or the defaults of a new one). */
export function initialValues(fields: readonly FormField[], record: Record<string, unknown> | null): FormValues {
  const out: FormValues = {};
  for (const { field } of fields) {
    out[field.name] = toFormValue(field, record ? record[field.name] : field.default);
  }
  return out;
}

/** Whether a form value is empty (what `required` refuses). */
export function isEmpty(field: Pick<FieldDef, 'type'>, value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (typeof value === 'string') return value.trim() === '';
  if (Array.isArray(value)) return value.length === 0;
  if (field.type === 'currency' && isObject(value)) return value.amount === null || value.amount === undefined || value.amount === '';
  return false;
}

/** A form value as the API takes it (json text parsed: the checks made sure it parses). */
export function toApiValue(field: FieldDef, value: unknown): unknown {
  if (isEmpty(field, value)) return field.type === 'boolean' ? false : null;
  switch (field.type) {
    case 'json':
      return JSON.parse(String(value));
    case 'attachment':
      return (value as { id: string }[]).map((f) => f.id);
    default:
      return value;
  }
}

/** Whether two form values are the same (attachments by their files' ids). */
export function sameValue(field: FieldDef, a: unknown, b: unknown): boolean {
  if (field.type === 'attachment') {
    const ids = (v: unknown) => (Array.isArray(v) ? v.map((f) => (isObject(f) ? f.id : f)) : []);
    return JSON.stringify(ids(a)) === JSON.stringify(ids(b));
  }
  if (isEmpty(field, a) && isEmpty(field, b)) return true;
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The fields whose values differ from the base, as form values (what a draft keeps). */
export function changedValues(fields: readonly FormField[], base: FormValues, values: FormValues): FormValues {
  const out: FormValues = {};
  for (const { field, disabled } of fields) {
    if (disabled || !(field.name in values)) continue;
    if (!sameValue(field, base[field.name], values[field.name])) out[field.name] = values[field.name];
  }
  return out;
}

/** The body of a create: every editable field with a value (the others take their defaults). */
export function createBody(fields: readonly FormField[], values: FormValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { field, disabled } of fields) {
    const v = values[field.name];
    if (disabled || isEmpty(field, v)) continue;
    out[field.name] = toApiValue(field, v);
  }
  return out;
}

/** The body of a PATCH: only the changed fields. */
export function patchBody(fields: readonly FormField[], base: FormValues, values: FormValues): Record<string, unknown> {
  const changed = changedValues(fields, base, values);
  const out: Record<string, unknown> = {};
  for (const { field } of fields) {
    if (field.name in changed) out[field.name] = toApiValue(field, changed[field.name]);
  }
  return out;
}
