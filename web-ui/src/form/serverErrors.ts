// A refused write (problem+json with `errors[]`) as the form shows it: each error at its field,
// in the user's language (the server's `messages` when it has them, else the UI's message for
// the code, else the server's text), and whatever names no field of the form at the top.

import type { FieldDef, ProblemError, ProblemFieldError } from '../api';
import { localize, type Lang, type MessageKey } from '../i18n';

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** The UI's message for a code the server uses, with the field's definition for its numbers. */
function codeMessage(code: string, field: FieldDef | undefined, t: T): string | null {
  switch (code) {
    case 'required':
      return t('form.check.required');
    case 'unique':
      return t('form.server.unique');
    case 'not_found':
      return t('form.server.notFound');
    case 'read_only':
      return t('form.server.readOnly');
    case 'file_type':
      return t('form.server.fileType');
    case 'hidden_requirement':
      return t('form.server.hiddenRequirement');
    case 'option':
      return t('form.check.option');
    case 'pattern':
      return t('form.check.pattern');
    case 'min_length':
      return field?.min_length !== undefined ? t('form.check.minLength', { n: field.min_length }) : null;
    case 'max_length':
      return field?.max_length !== undefined ? t('form.check.maxLength', { n: field.max_length }) : null;
    case 'minimum':
      return field?.min !== undefined ? t('form.check.min', { min: String(field.min) }) : null;
    case 'maximum':
      return field?.max !== undefined ? t('form.check.max', { max: String(field.max) }) : null;
    case 'format':
      if (field?.type === 'email') return t('form.check.email');
      if (field?.type === 'url') return t('form.check.url');
      if (field?.type === 'phone') return t('form.check.phone');
      return null;
    default:
      return null;
  }
}

/** One error's text in the user's language. */
export function errorText(err: ProblemFieldError, field: FieldDef | undefined, lang: Lang, t: T): string {
  const own = err.messages ? localize(err.messages, lang) : '';
  return own || codeMessage(err.code, field, t) || err.message || err.code;
}

export interface ServerErrors {
  /** Messages per form field. */
  fields: Record<string, string[]>;
  /** Messages for the top of the form: errors of no field of the form, or the problem itself. */
  top: string[];
}

/** Where each error of a refused write goes. */
export function mapServerErrors(problem: ProblemError, formFields: readonly FieldDef[], lang: Lang, t: T): ServerErrors {
  const byName = new Map(formFields.map((f) => [f.name, f]));
  const out: ServerErrors = { fields: {}, top: [] };
  for (const err of problem.errors) {
    const name = err.field.replace(/^\/+/, '').split(/[./[]/)[0];
    const field = byName.get(name);
    const text = errorText(err, field, lang, t);
    if (field) {
      const list = (out.fields[name] ??= []);
      if (!list.includes(text)) list.push(text);
    } else {
      const label = err.field ? t('form.server.otherField', { field: err.field, message: text }) : text;
      if (!out.top.includes(label)) out.top.push(label);
    }
  }
  if (problem.errors.length === 0) out.top.push(problem.displayMessage);
  return out;
}
