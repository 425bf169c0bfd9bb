// The filter a user builds in the grid: a tree of conditions in and/or groups (each group may be
// negated), turned into the list API's filter language (`schemas/filter.schema.json`). Which
// operators a field offers mirrors what the server accepts for its type
// (`trellis_core::query::check_condition`).

import type { FieldDef, FieldType } from '../api';
import type { MessageKey } from '../i18n';

export type Op =
  | 'eq'
  | 'ne'
  | 'gt'
  | 'gte'
  | 'lt'
  | 'lte'
  | 'in'
  | 'nin'
  | 'contains'
  | 'starts_with'
  | 'is_null'
  | 'between';

export const ALL_OPS: readonly Op[] = [
  'eq',
  'ne',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'nin',
  'contains',
  'starts_with',
  'is_null',
  'between',
];

/** Each operator's name in the UI (typed, so a missing message does not compile). */
export const OP_LABEL: Readonly<Record<Op, MessageKey>> = {
  eq: 'filter.op.eq',
  ne: 'filter.op.ne',
  gt: 'filter.op.gt',
  gte: 'filter.op.gte',
  lt: 'filter.op.lt',
  lte: 'filter.op.lte',
  in: 'filter.op.in',
  nin: 'filter.op.nin',
  contains: 'filter.op.contains',
  starts_with: 'filter.op.starts_with',
  is_null: 'filter.op.is_null',
  between: 'filter.op.between',
};

const TEXT: readonly Op[] = ['eq', 'ne', 'contains', 'starts_with', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'between', 'is_null'];
const ORDERED: readonly Op[] = ['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'between', 'in', 'nin', 'is_null'];
const CHOICE: readonly Op[] = ['eq', 'ne', 'in', 'nin', 'is_null'];

/** The operators a field of this type offers, most useful first. */
export function operatorsFor(type: FieldType): readonly Op[] {
  switch (type) {
    case 'text':
    case 'long_text':
    case 'email':
    case 'phone':
    case 'url':
    case 'auto_number':
      return TEXT;
    case 'single_select':
      return ['eq', 'ne', 'in', 'nin', 'contains', 'starts_with', 'is_null'];
    case 'integer':
    case 'decimal':
    case 'percent':
    case 'currency':
    case 'date':
    case 'datetime':
      return ORDERED;
    case 'boolean':
      return ['eq', 'ne', 'is_null'];
    case 'relation':
    case 'user':
      return CHOICE;
    case 'multi_select':
      return ['contains', 'is_null'];
    case 'json':
    case 'attachment':
      return ['is_null'];
  }
  return ['is_null'];
}

/** Fields a filter may name: the list's fields (hidden ones are not in the definition the caller reads). */
export function filterableFields(fields: readonly FieldDef[]): FieldDef[] {
  return fields.filter((f) => operatorsFor(f.type).length > 0);
}

export interface Condition {
  kind: 'cond';
  id: string;
  field: string;
  op: Op;
  /** A value of the field's type; an array for in/nin and between; a boolean for is_null. */
  value: unknown;
}

export interface Group {
  kind: 'group';
  id: string;
  join: 'and' | 'or';
  /** The group's complement (`not`). */
  negate: boolean;
  children: FilterNode[];
}

export type FilterNode = Condition | Group;

let seq = 0;
export function newId(): string {
  seq += 1;
  return `n${seq}`;
}

export function emptyGroup(join: 'and' | 'or' = 'and'): Group {
  return { kind: 'group', id: newId(), join, negate: false, children: [] };
}

/** The value a condition starts with when its operator changes. */
export function initialValue(op: Op): unknown {
  if (op === 'is_null') return true;
  if (op === 'in' || op === 'nin') return [];
  if (op === 'between') return [null, null];
  return null;
}

export function newCondition(field: FieldDef, op?: Op): Condition {
  const o = op ?? operatorsFor(field.type)[0];
  return { kind: 'cond', id: newId(), field: field.name, op: o, value: initialValue(o) };
}

const blank = (v: unknown) => v === null || v === undefined || (typeof v === 'string' && v.trim() === '');

/** Whether a condition has the value its operator needs (an incomplete one is left out). */
export function isComplete(c: Condition): boolean {
  switch (c.op) {
    case 'is_null':
      return typeof c.value === 'boolean';
    case 'in':
    case 'nin':
      return Array.isArray(c.value) && c.value.length > 0 && !c.value.some(blank);
    case 'between':
      return Array.isArray(c.value) && c.value.length === 2 && !c.value.some(blank);
    default:
      return !blank(c.value) && !Array.isArray(c.value);
  }
}

/** A currency amount is compared as its number. */
function operand(v: unknown): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v) && 'amount' in v) return (v as { amount: unknown }).amount;
  return v;
}

/**
 * The filter JSON of a node, or `undefined` when it holds no complete condition. A group of one
 * member is that member (negated when the group is); an empty group is left out.
 */
export function toFilter(node: FilterNode): unknown {
  if (node.kind === 'cond') {
    if (!isComplete(node)) return undefined;
    const value = Array.isArray(node.value) ? node.value.map(operand) : operand(node.value);
    return { field: node.field, op: node.op, value };
  }
  const parts = node.children.map(toFilter).filter((f) => f !== undefined);
  if (parts.length === 0) return undefined;
  const inner = parts.length === 1 ? parts[0] : { [node.join]: parts };
  return node.negate ? { not: inner } : inner;
}

/** A view's own filter and the user's, both applying. */
export function andFilters(...filters: unknown[]): unknown {
  const parts = filters.filter((f) => f !== undefined && f !== null);
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : { and: parts };
}

/** The tree with `fn` applied to the node of this id. */
export function updateNode(root: Group, id: string, fn: (n: FilterNode) => FilterNode | null): Group {
  const walk = (n: FilterNode): FilterNode | null => {
    if (n.id === id) return fn(n);
    if (n.kind === 'cond') return n;
    return { ...n, children: n.children.map(walk).filter((c): c is FilterNode => c !== null) };
  };
  return (walk(root) as Group | null) ?? emptyGroup();
}

/** The tree without the node of this id. */
export function removeNode(root: Group, id: string): Group {
  if (root.id === id) return { ...root, children: [] };
  return updateNode(root, id, () => null);
}

/** Number of complete conditions in a tree. */
export function countConditions(n: FilterNode): number {
  if (n.kind === 'cond') return isComplete(n) ? 1 : 0;
  return n.children.reduce((s, c) => s + countConditions(c), 0);
}
