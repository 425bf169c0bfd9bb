// Group-by in the grid: which fields may group and be summed, the aggregate request
// (`POST /data/{app}/{entity}/aggregate`) that counts and sums per group in the database, and
// the list filter of one group, so expanding it lists exactly the records it counted.

import type { FieldDef } from '../api';
import { andFilters } from './filterModel';

export type BucketUnit = 'day' | 'week' | 'month' | 'quarter' | 'year';

export interface GroupSpec {
  field: string;
  /** For a date or datetime field: the period its records are grouped by. */
  unit?: BucketUnit;
  /** A number or currency field summed per group. */
  sum?: string;
}

const GROUPABLE = new Set(['single_select', 'user', 'relation', 'boolean', 'date', 'datetime']);
const SUMMABLE = new Set(['integer', 'decimal', 'percent', 'currency']);

export const isGroupable = (f: Pick<FieldDef, 'type'>) => GROUPABLE.has(f.type);
export const isSummable = (f: Pick<FieldDef, 'type'>) => SUMMABLE.has(f.type);
export const isBucketed = (f: Pick<FieldDef, 'type'>) => f.type === 'date' || f.type === 'datetime';

export const SUM = 'sum';
export const COUNT = 'count';
/** Most groups shown (the API answers `truncated` past it). */
export const GROUP_LIMIT = 500;

/** The aggregate body of a grouping over the rows of `filter`. */
export function aggregateBody(spec: GroupSpec, field: Pick<FieldDef, 'type'>, filter: unknown): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  if (isBucketed(field)) body.bucket = { field: spec.field, unit: spec.unit ?? 'month' };
  else body.group_by = [spec.field];
  body.measures = [{ op: 'count' }, ...(spec.sum ? [{ op: 'sum', field: spec.sum, as: SUM }] : [])];
  if (filter !== undefined && filter !== null) body.filter = filter;
  body.sort = [{ by: spec.field }];
  body.limit = GROUP_LIMIT;
  return body;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/** The first day after the period starting on `start` (`YYYY-MM-DD`, in UTC). */
export function periodEnd(start: string, unit: BucketUnit): string {
  const [y, m, d] = start.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d));
  switch (unit) {
    case 'day':
      date.setUTCDate(date.getUTCDate() + 1);
      break;
    case 'week':
      date.setUTCDate(date.getUTCDate() + 7);
      break;
    case 'month':
      date.setUTCMonth(date.getUTCMonth() + 1);
      break;
    case 'quarter':
      date.setUTCMonth(date.getUTCMonth() + 3);
      break;
    case 'year':
      date.setUTCFullYear(date.getUTCFullYear() + 1);
      break;
  }
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

function dayBefore(day: string): string {
  const [y, m, d] = day.split('-').map(Number);
  const date = new Date(Date.UTC(y, m - 1, d - 1));
  return `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}`;
}

/** The list filter of the group whose key is `key`, ANDed with the grid's filter. */
export function groupFilter(spec: GroupSpec, field: Pick<FieldDef, 'type'>, key: unknown, filter: unknown): unknown {
  let own: unknown;
  if (key === null || key === undefined) own = { field: spec.field, op: 'is_null', value: true };
  else if (isBucketed(field)) {
    const start = String(key);
    const end = periodEnd(start, spec.unit ?? 'month');
    own =
      field.type === 'date'
        ? { field: spec.field, op: 'between', value: [start, dayBefore(end)] }
        : {
            and: [
              { field: spec.field, op: 'gte', value: `${start}T00:00:00Z` },
              { field: spec.field, op: 'lt', value: `${end}T00:00:00Z` },
            ],
          };
  } else own = { field: spec.field, op: 'eq', value: key };
  return andFilters(filter, own);
}
