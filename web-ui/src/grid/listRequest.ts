// The list request of a grid (`GET /api/v1/data/{app}/{entity}`): which rows (filter, q),
// in which order (sort), which columns (fields), which relations come with their records
// (expand: one request per page, never one per row), and where the page starts (cursor, or
// offset for a jump).

import type { components, operations } from '../api/schema';

export type ListQuery = NonNullable<operations['list_records']['parameters']['query']>;

export interface SortKey {
  field: string;
  desc: boolean;
}

export interface ListOptions {
  q?: string;
  sort?: readonly SortKey[];
  fields?: readonly string[];
  expand?: readonly string[];
  /** A filter (`filter.schema.json`), sent as JSON. */
  filter?: unknown;
  limit?: number;
  cursor?: string | null;
  /** Where the page starts when it has no cursor (a jump far into the list). */
  offset?: number;
}

/** The first page's size: enough to fill a tall screen twice. */
export const PAGE_SIZE = 100;

/** The most sort keys the list API takes. */
export const MAX_SORT_KEYS = 5;

/**
 * The sort after a click on a column header: a plain click sorts by that column alone (or by
 * nothing when its order cycles off), a shift-click adds it as the next key, changes its
 * direction in place, or takes it out, keeping the others.
 */
export function sortAfterClick(
  sort: readonly SortKey[],
  field: string,
  order: 'ascend' | 'descend' | null | undefined,
  shift: boolean,
): SortKey[] {
  const key = order ? { field, desc: order === 'descend' } : null;
  if (!shift) return key ? [key] : [];
  if (!key) return sort.filter((k) => k.field !== field);
  if (sort.some((k) => k.field === field)) return sort.map((k) => (k.field === field ? key : k));
  return sort.length >= MAX_SORT_KEYS ? [...sort] : [...sort, key];
}

/** `sort=-amount,title`. */
export function sortParam(sort: readonly SortKey[]): string {
  return sort.map((k) => (k.desc ? `-${k.field}` : k.field)).join(',');
}

/** The query of one page of rows; only what is set is sent. */
export function pageQuery(o: ListOptions): ListQuery {
  const query: ListQuery = { limit: o.limit ?? PAGE_SIZE };
  const q = o.q?.trim();
  if (q) query.q = q;
  if (o.sort?.length) query.sort = sortParam(o.sort);
  if (o.fields?.length) query.fields = o.fields.join(',');
  if (o.expand?.length) query.expand = o.expand.join(',');
  if (o.filter !== undefined && o.filter !== null) query.filter = JSON.stringify(o.filter);
  if (o.cursor) query.cursor = o.cursor;
  else if (o.offset) query.offset = o.offset;
  // What the caller may do with each row (grid/rowRights.ts): nothing to compute for a caller
  // whose rights reach every row, two small reads for one with row scopes.
  query.rights = true;
  return query;
}

/**
 * The query of the total: the same rows (filter, q), one of them, and `count`; asked beside
 * the first page so counting never holds the rows back.
 */
export function countQuery(o: ListOptions): ListQuery {
  const query: ListQuery = { limit: 1, count: true };
  const q = o.q?.trim();
  if (q) query.q = q;
  if (o.filter !== undefined && o.filter !== null) query.filter = JSON.stringify(o.filter);
  return query;
}

/** A record as the list answers it: system fields and the entity's fields by name. */
export type RecordRow = Record<string, unknown> & { id: string };

export interface RecordPage {
  data: RecordRow[];
  next_cursor?: string | null;
  total?: number;
  /** What the caller may do with the page's records (grid/rowRights.ts). */
  rights?: components['schemas']['PageRights'] | null;
}
