// Editing one cell of the grid in place: which cells may be edited (a field the caller sees,
// may change and the grid has an input for), the PATCH of that one field with the row's version
// as `If-Match`, and what becomes of the answer: the row replaced in every cached page, a
// refusal's message for the cell in the user's language, or, when someone changed the record
// meanwhile (412), the row reloaded and the cell told so.

import type { QueryClient } from '@tanstack/react-query';
import { toProblem, type ApiClient, type FieldDef, type ProblemError } from '../api';
import { inputKind, toApiValue, type InputKind } from '../form/fields';
import { getVersioned, updateRecord } from '../form/queries';
import { errorText } from '../form/serverErrors';
import type { Lang, MessageKey } from '../i18n';
import type { RecordPage, RecordRow } from './listRequest';
import { recordKeys } from './queries';

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

/** The kinds of input a cell edits in place; the others (files, JSON, computed) need the form. */
const IN_PLACE: ReadonlySet<InputKind> = new Set<InputKind>([
  'text',
  'textarea',
  'integer',
  'decimal',
  'percent',
  'currency',
  'select',
  'multiselect',
  'boolean',
  'date',
  'datetime',
  'email',
  'url',
  'phone',
  'user',
  'relation',
]);

/** Whether a cell of this field may be edited in place by a caller with the update right. */
export function editableInPlace(field: FieldDef, readOnly: ReadonlySet<string>, mayUpdate: boolean): boolean {
  return mayUpdate && !readOnly.has(field.name) && IN_PLACE.has(inputKind(field));
}

/** The input a cell uses: a long text edits on one line in the grid. */
export function cellInputKind(field: FieldDef): InputKind {
  const kind = inputKind(field);
  return kind === 'textarea' ? 'text' : kind;
}

/** `If-Match` for a row: its version as an ETag, none when the list did not give it. */
export function ifMatch(row: RecordRow): string | null {
  return typeof row.version === 'number' ? `"${row.version}"` : null;
}

/** Puts a fresh copy of a row in every cached page of the entity's lists (pages of a grid's
 * window, and the pages of an infinite list). */
export function replaceRow(qc: QueryClient, app: string, entity: string, row: RecordRow): void {
  const swap = (p: RecordPage): RecordPage =>
    p.data.some((r) => r.id === row.id) ? { ...p, data: p.data.map((r) => (r.id === row.id ? row : r)) } : p;
  qc.setQueriesData<RecordPage | { pages: RecordPage[]; pageParams: unknown[] }>(
    { queryKey: [...recordKeys.all, app, entity, 'list'] },
    (data) => {
      if (!data) return data;
      if ('pages' in data) return { ...data, pages: data.pages.map(swap) };
      return Array.isArray(data.data) ? swap(data) : data;
    },
  );
}

export type CellSave = { ok: true; row: RecordRow } | { ok: false; message: string; stale: boolean };

/** The message a refused save shows at its cell: the field's own errors, else the problem's. */
export function refusalText(problem: ProblemError, field: FieldDef, lang: Lang, t: T): string {
  if (problem.status === 412) return t('grid.edit.stale');
  const mine = problem.errors.filter((e) => e.field.replace(/^\/+/, '').split(/[./[]/)[0] === field.name);
  const errs = mine.length ? mine : problem.errors;
  if (errs.length) return [...new Set(errs.map((e) => errorText(e, field, lang, t)))].join('; ');
  return t('grid.edit.failed', { reason: problem.displayMessage });
}

/**
 * Saves one cell: PATCH of the field with the row's version. The saved row (or, after a 412, the
 * record as it now is) is read back with the grid's expansions and replaces the cached row.
 */
export async function saveCell(
  api: ApiClient,
  qc: QueryClient,
  opts: { app: string; entity: string; row: RecordRow; field: FieldDef; value: unknown; expand: readonly string[] },
  lang: Lang,
  t: T,
): Promise<CellSave> {
  const { app, entity, row, field, value, expand } = opts;
  const reload = async () => {
    const fresh = (await getVersioned(api, app, entity, row.id, expand)).record;
    replaceRow(qc, app, entity, fresh);
    return fresh;
  };
  try {
    await updateRecord(api, app, entity, row.id, { [field.name]: toApiValue(field, value) }, ifMatch(row));
  } catch (e) {
    const problem = toProblem(e);
    const stale = problem.status === 412;
    if (stale) await reload().catch(() => undefined);
    return { ok: false, message: refusalText(problem, field, lang, t), stale };
  }
  try {
    return { ok: true, row: await reload() };
  } catch {
    // Saved; the row shows again with the next load.
    return { ok: true, row };
  }
}
