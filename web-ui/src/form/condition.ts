// Form conditions (`visible_if`, `required_if` written as a filter-language condition),
// evaluated on the form's values as the user types. The server judges the same conditions on
// every write with `trellis_core::condition`; both follow the rules below and both run the
// shared cases of `schemas/tests/conditions.json` (condition.test.ts and `cargo test`).
//
// - empty: missing, null, a blank string, an empty array (or a value not of the field's kind);
// - text kinds: eq/in exact, gt… by code point, contains/starts_with ignore case; relation and
//   user ids compare without case;
// - numbers (integer, decimal, percent, currency's amount): numbers or numeric strings;
// - dates YYYY-MM-DD in calendar order; date-times (RFC 3339, any offset) as instants to the
//   microsecond; booleans by eq/ne/in/nin; multi_select: contains = the option is chosen;
// - an empty value makes every comparison false but ne and nin (true) and is_null;
// - `$user.id` stands for the form's user.

import type { FieldDef } from '../api';

/** A condition as the definition holds it (`filter.schema.json`). */
export type Condition = Record<string, unknown>;

type Kind = 'text' | 'id' | 'number' | 'boolean' | 'date' | 'datetime' | 'items' | 'other';

type Norm =
  | { k: 'text'; v: string }
  | { k: 'number'; v: number }
  | { k: 'boolean'; v: boolean }
  /** Microseconds since the epoch, as a bigint (beyond 2^53). */
  | { k: 'instant'; v: bigint }
  | { k: 'items'; v: string[] }
  | { k: 'some' };

function kindOf(type: FieldDef['type'] | undefined): Kind {
  switch (type) {
    case 'integer':
    case 'decimal':
    case 'percent':
    case 'currency':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'date':
      return 'date';
    case 'datetime':
      return 'datetime';
    case 'multi_select':
      return 'items';
    case 'json':
    case 'attachment':
      return 'other';
    case 'relation':
    case 'user':
      return 'id';
    default:
      return 'text';
  }
}

const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

function toNumber(v: unknown): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string') {
    const s = v.trim();
    if (!NUMERIC.test(s)) return null;
    const n = Number(s);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** An RFC 3339 date-time as microseconds since the epoch. */
export function instant(s: string): bigint | null {
  const m = DATETIME.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, se, frac, zone] = m;
  const nums = [y, mo, d, h, mi, se].map(Number);
  if (nums[1] < 1 || nums[1] > 12 || nums[2] < 1 || nums[2] > 31 || nums[3] > 23 || nums[4] > 59 || nums[5] > 59) {
    return null;
  }
  const day = new Date(Date.UTC(nums[0], nums[1] - 1, nums[2]));
  if (day.getUTCDate() !== nums[2]) return null;
  // Date.UTC maps years 0–99 to 1900–1999: set the year again.
  day.setUTCFullYear(nums[0]);
  const seconds = BigInt(day.getTime() / 1000) + BigInt(nums[3] * 3600 + nums[4] * 60 + nums[5]);
  let offset = 0n;
  if (zone !== 'Z' && zone !== 'z') {
    const sign = zone.startsWith('-') ? -1n : 1n;
    offset = sign * BigInt(Number(zone.slice(1, 3)) * 3600 + Number(zone.slice(4, 6)) * 60);
  }
  const micros = frac ? BigInt((frac.slice(1) + '000000').slice(0, 6)) : 0n;
  return (seconds - offset) * 1_000_000n + micros;
}

/** A value as its field's kind reads it; `null` when empty or not of that kind. */
function norm(kind: Kind, v: unknown): Norm | null {
  if (v === undefined || v === null) return null;
  switch (kind) {
    case 'number': {
      const raw = typeof v === 'object' && !Array.isArray(v) ? (v as { amount?: unknown }).amount : v;
      const n = toNumber(raw);
      return n === null ? null : { k: 'number', v: n };
    }
    case 'boolean':
      return typeof v === 'boolean' ? { k: 'boolean', v } : null;
    case 'date':
      return typeof v === 'string' && DATE.test(v) ? { k: 'text', v } : null;
    case 'datetime': {
      const t = typeof v === 'string' ? instant(v) : null;
      return t === null ? null : { k: 'instant', v: t };
    }
    case 'items': {
      if (!Array.isArray(v)) return null;
      const items = v.filter((x): x is string => typeof x === 'string');
      return items.length ? { k: 'items', v: items } : null;
    }
    case 'other':
      return Array.isArray(v) && v.length === 0 ? null : { k: 'some' };
    case 'id':
    case 'text':
      if (typeof v !== 'string' || v.trim() === '') return null;
      return { k: 'text', v: kind === 'id' ? v.toLowerCase() : v };
  }
}

/** Code point order, as Rust compares strings. */
function compareText(a: string, b: string): number {
  const x = Array.from(a);
  const y = Array.from(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

function order(a: Norm, b: Norm | null): number | null {
  if (!b) return null;
  if (a.k === 'number' && b.k === 'number') return a.v === b.v ? 0 : a.v < b.v ? -1 : 1;
  if (a.k === 'text' && b.k === 'text') return compareText(a.v, b.v);
  if (a.k === 'instant' && b.k === 'instant') return a.v === b.v ? 0 : a.v < b.v ? -1 : 1;
  if (a.k === 'boolean' && b.k === 'boolean') return a.v === b.v ? 0 : a.v ? 1 : -1;
  return null;
}

function substitute(v: unknown, user: string): unknown {
  if (v === '$user.id') return user;
  if (Array.isArray(v)) return v.map((x) => substitute(x, user));
  return v;
}

/** The fields of an entity by name, as conditions need them. */
export type FieldTypes = ReadonlyMap<string, Pick<FieldDef, 'type'>>;

export function fieldTypes(fields: readonly Pick<FieldDef, 'name' | 'type'>[]): FieldTypes {
  return new Map(fields.map((f) => [f.name, f]));
}

/** Whether `record` (fields' values by name, as the API takes them) satisfies `condition`. */
export function holds(
  condition: Condition,
  fields: FieldTypes,
  record: Readonly<Record<string, unknown>>,
  user = '',
): boolean {
  if (Array.isArray(condition.and)) return (condition.and as Condition[]).every((c) => holds(c, fields, record, user));
  if (Array.isArray(condition.or)) return (condition.or as Condition[]).some((c) => holds(c, fields, record, user));
  if (condition.not && typeof condition.not === 'object') return !holds(condition.not as Condition, fields, record, user);
  const name = String(condition.field ?? '');
  const op = String(condition.op ?? '');
  const kind = kindOf(fields.get(name)?.type);
  const have = norm(kind, record[name]);
  const value = substitute(condition.value, user);
  if (op === 'is_null') return have === null ? value === true : value === false;
  if (have === null) return op === 'ne' || op === 'nin';
  const operand = (x: unknown) => norm(kind === 'items' ? 'text' : kind, x);
  const is = (x: unknown, want: number[]) => {
    const o = order(have, operand(x));
    return o !== null && want.includes(o);
  };
  const list = Array.isArray(value) ? value : [];
  const lower = (n: Norm | null) => (n && n.k === 'text' ? n.v.toLowerCase() : '');
  switch (op) {
    case 'eq':
      return is(value, [0]);
    case 'ne':
      return !is(value, [0]);
    case 'gt':
      return is(value, [1]);
    case 'gte':
      return is(value, [1, 0]);
    case 'lt':
      return is(value, [-1]);
    case 'lte':
      return is(value, [-1, 0]);
    case 'between':
      return is(list[0], [1, 0]) && is(list[1], [-1, 0]);
    case 'in':
      return list.some((x) => is(x, [0]));
    case 'nin':
      return !list.some((x) => is(x, [0]));
    case 'contains':
      if (have.k === 'items') return typeof value === 'string' && have.v.includes(value);
      return have.k === 'text' && lower(have).includes(lower(operand(value)));
    case 'starts_with':
      return have.k === 'text' && lower(have).startsWith(lower(operand(value)));
    default:
      return false;
  }
}

/** Whether a field is shown: no `visible_if`, or it holds. */
export function isVisible(
  field: Pick<FieldDef, 'visible_if'>,
  fields: FieldTypes,
  record: Readonly<Record<string, unknown>>,
  user = '',
): boolean {
  return !field.visible_if || holds(field.visible_if as Condition, fields, record, user);
}

/**
 * Whether a shown field is required now: `required`, or a `required_if` written as a condition
 * that holds (a Rhai `required_if` is judged by the server only).
 */
export function isRequiredNow(
  field: Pick<FieldDef, 'required' | 'required_if'>,
  fields: FieldTypes,
  record: Readonly<Record<string, unknown>>,
  user = '',
): boolean {
  if (field.required) return true;
  const r = field.required_if;
  return !!r && typeof r === 'object' && holds(r as Condition, fields, record, user);
}
