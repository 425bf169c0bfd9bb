// Bulk edit and bulk delete of the grid's selected rows through `POST …/bulk` (all or nothing),
// and the mapping of a refused request's errors (`update[2].amount`) back to the rows.

import type { Problem } from '../api';

export interface SelectedRow {
  id: string;
  version?: unknown;
}

/** Each selected record gets `field` set to `value`, at the version the grid shows (412 if stale). */
export function bulkUpdateBody(rows: readonly SelectedRow[], field: string, value: unknown) {
  return {
    update: rows.map((r) => ({
      id: r.id,
      ...(typeof r.version === 'number' ? { version: r.version } : {}),
      [field]: value,
    })),
  };
}

export function bulkDeleteBody(rows: readonly SelectedRow[]) {
  return { delete: rows.map((r) => (typeof r.version === 'number' ? { id: r.id, version: r.version } : r.id)) };
}

export interface RowError {
  /** The field at fault, when the error names one (`amount`, `owner`, `requirements`). */
  field?: string;
  code: string;
  message: string;
}

export interface BulkErrors {
  /** Per record id, what was wrong with its operation. */
  rows: Map<string, RowError[]>;
  /** What names no operation (the whole request). */
  general: string[];
}

const AT = /^(create|update|delete)\[(\d+)\](?:\.(.+))?$/;
const DETAIL_AT = /^(create|update|delete)\[(\d+)\]:\s*(.*)$/s;

/**
 * A refused bulk request's problem, by row: each error whose `field` names an operation
 * (`update[1].amount`) goes to the record sent at that index; a problem without such errors but
 * whose detail names one (`delete[0]: …`, as a 404 or 412 answers) goes to that record;
 * anything else is general. Messages are the server's in the reader's language when it has them.
 */
export function bulkErrors(problem: Problem, ids: readonly string[], lang: 'zh' | 'en'): BulkErrors {
  const rows = new Map<string, RowError[]>();
  const general: string[] = [];
  const add = (index: number, e: RowError) => {
    const id = ids[index];
    if (id === undefined) {
      general.push(e.message);
      return;
    }
    rows.set(id, [...(rows.get(id) ?? []), e]);
  };
  for (const e of problem.errors ?? []) {
    const message = e.messages?.[lang] || e.message;
    const m = AT.exec(e.field);
    if (m) add(Number(m[2]), { field: m[3], code: e.code, message });
    else general.push(message);
  }
  if (!problem.errors?.length) {
    const m = DETAIL_AT.exec(problem.detail ?? '');
    if (m) add(Number(m[2]), { code: problem.code, message: m[3] });
    else general.push(problem.detail || problem.title);
  }
  return { rows, general };
}
