import { fieldPath, type ProblemFieldError } from '../api';

export interface FormFieldErrors {
  name: string[];
  errors: string[];
}

/**
 * Matches a problem's `errors` to the form's fields.
 *
 * A problem field matches a form field when their paths are equal
 * (`label.zh`, `/label/zh` → ['label','zh']); a field naming a group
 * (`label`) goes to the group's first form field. The rest is returned in
 * `unmatched` so the caller can show it elsewhere.
 */
export function matchFieldErrors(
  errors: readonly ProblemFieldError[],
  formFields: readonly (readonly string[])[],
): { fields: FormFieldErrors[]; unmatched: ProblemFieldError[] } {
  const byField = new Map<string, FormFieldErrors>();
  const unmatched: ProblemFieldError[] = [];
  const key = (p: readonly string[]) => p.join('\u0000');

  for (const err of errors) {
    const path = fieldPath(err.field);
    const message = err.message || err.code;
    const exact = formFields.find((f) => key(f) === key(path));
    const target =
      exact ??
      (path.length > 0
        ? formFields.find((f) => f.length > path.length && key(f.slice(0, path.length)) === key(path))
        : undefined);
    if (!target) {
      unmatched.push(err);
      continue;
    }
    const k = key(target);
    const entry = byField.get(k) ?? { name: [...target], errors: [] };
    if (!entry.errors.includes(message)) entry.errors.push(message);
    byField.set(k, entry);
  }
  return { fields: [...byField.values()], unmatched };
}
