// Group-by in the grid: which fields may group and be summed, the aggregate request
// (`POST /data/{app}/{entity}/aggregate`) that counts and sums per group in the database, and
// the list filter of one group, so expanding it lists exactly the records it counted.

import type { FieldDef } from '../api';
import type { MessageKey } from '../i18n';
import { andFilters } from './filterModel';

export type BucketUnit = 'day' | 'week' | 'month' | 'quarter' | 'year';

/** The periods offered, shortest first. */
export const BUCKET_UNITS: readonly BucketUnit[] = ['day', 'week', 'month', 'quarter', 'year'];

/** Each period's name in the UI. */
export const UNIT_LABEL: Readonly<Record<BucketUnit, MessageKey>> = {
  day: 'group.unit.day',
  week: 'group.unit.week',
  month: 'group.unit.month',
  quarter: 'group.unit.quarter',
  year: 'group.unit.year',
};

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

const dayFormats = new Map<string, Intl.DateTimeFormat>();

/** `YYYY-MM-DD hh:mm:ss` of an instant on the wall clock of `zone` (`en-CA` writes dates ISO-like). */
function wallClock(ms: number, zone: string): string {
  let f = dayFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    dayFormats.set(zone, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** How far the wall clock of `zone` is ahead of UTC at the instant `ms`. */
function offsetAt(ms: number, zone: string): number {
  const [d, t] = wallClock(ms, zone).split(' ');
  const [y, m, day] = d.split('-').map(Number);
  const [h, min, s] = t.split(':').map(Number);
  return Date.UTC(y, m - 1, day, h, min, s) - Math.floor(ms / 1000) * 1000;
}

function knownZone(zone: string | undefined): string {
  if (!zone) return 'UTC';
  try {
    wallClock(0, zone);
    return zone;
  } catch {
    return 'UTC';
  }
}

/**
 * The first instant of the day `day` (`YYYY-MM-DD`) on the wall clock of `zone`, as RFC 3339 in
 * UTC: where the server's buckets of a datetime in that zone begin. Summer time is followed; a
 * day whose midnight the clocks skip begins when they jump. An unknown zone (or none) is UTC.
 */
export function dayStart(day: string, timeZone: string | undefined): string {
  const zone = knownZone(timeZone);
  const [y, m, d] = day.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d);
  // The offsets in force around that day: the start is the wall time less one of them.
  const candidates = [wall - 86_400_000, wall, wall + 86_400_000].map((at) => wall - offsetAt(at, zone));
  for (const c of [...candidates]) candidates.push(wall - offsetAt(c, zone));
  const start = Math.min(...candidates.filter((c) => wallClock(c, zone).slice(0, 10) >= day));
  return `${new Date(start).toISOString().slice(0, 19)}Z`;
}

/**
 * The list filter of the group whose key is `key`, ANDed with the grid's filter. A datetime's
 * period is cut in `timeZone`, the zone the aggregate answered it bucketed in (the tenant's), so
 * the rows listed are the ones it counted.
 */
export function groupFilter(
  spec: GroupSpec,
  field: Pick<FieldDef, 'type'>,
  key: unknown,
  filter: unknown,
  timeZone?: string,
): unknown {
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
              { field: spec.field, op: 'gte', value: dayStart(start, timeZone) },
              { field: spec.field, op: 'lt', value: dayStart(end, timeZone) },
            ],
          };
  } else own = { field: spec.field, op: 'eq', value: key };
  return andFilters(filter, own);
}
