import { describe, expect, it } from 'vitest';
import type { FieldDef } from '../api';
import {
  ALL_OPS,
  andFilters,
  emptyGroup,
  filterableFields,
  newCondition,
  operatorsFor,
  removeNode,
  toFilter,
  updateNode,
  type Condition,
  type Group,
} from './filterModel';

const f = (name: string, type: FieldDef['type']): FieldDef => ({ name, type }) as FieldDef;
const cond = (field: string, op: Condition['op'], value: unknown): Condition => ({ kind: 'cond', id: `${field}-${op}`, field, op, value });
const group = (join: 'and' | 'or', children: Group['children'], negate = false): Group => ({
  kind: 'group',
  id: `g-${join}-${children.length}-${negate}`,
  join,
  negate,
  children,
});

describe('operators per field type', () => {
  it('offer what the server accepts for each type', () => {
    expect(operatorsFor('text')).toEqual(['eq', 'ne', 'contains', 'starts_with', 'in', 'nin', 'gt', 'gte', 'lt', 'lte', 'between', 'is_null']);
    expect(operatorsFor('single_select')).toEqual(['eq', 'ne', 'in', 'nin', 'contains', 'starts_with', 'is_null']);
    for (const t of ['integer', 'decimal', 'percent', 'currency', 'date', 'datetime'] as const) {
      expect(operatorsFor(t), t).toEqual(['eq', 'ne', 'gt', 'gte', 'lt', 'lte', 'between', 'in', 'nin', 'is_null']);
    }
    expect(operatorsFor('boolean')).toEqual(['eq', 'ne', 'is_null']);
    expect(operatorsFor('user')).toEqual(['eq', 'ne', 'in', 'nin', 'is_null']);
    expect(operatorsFor('relation')).toEqual(['eq', 'ne', 'in', 'nin', 'is_null']);
    expect(operatorsFor('multi_select')).toEqual(['contains', 'is_null']);
    expect(operatorsFor('attachment')).toEqual(['is_null']);
    expect(operatorsFor('json')).toEqual(['is_null']);
  });

  it('cover every operator of the filter language', () => {
    const offered = new Set((['text', 'integer'] as const).flatMap((t) => operatorsFor(t)));
    expect([...ALL_OPS].filter((op) => !offered.has(op))).toEqual([]);
  });

  it('never offer a text operator on a number, a range on a boolean, eq on a multi-select', () => {
    expect(operatorsFor('integer')).not.toContain('contains');
    expect(operatorsFor('boolean')).not.toContain('gt');
    expect(operatorsFor('boolean')).not.toContain('between');
    expect(operatorsFor('multi_select')).not.toContain('eq');
    expect(operatorsFor('multi_select')).not.toContain('in');
  });

  it('are asked only of the fields given (the caller reads no hidden field)', () => {
    expect(filterableFields([f('title', 'text'), f('files', 'attachment')]).map((x) => x.name)).toEqual(['title', 'files']);
  });
});

describe('the filter JSON', () => {
  it('of one condition is the condition', () => {
    expect(toFilter(group('and', [cond('status', 'eq', 'won')]))).toEqual({ field: 'status', op: 'eq', value: 'won' });
  });

  it('nests and / or / not exactly', () => {
    const tree = group('and', [
      cond('status', 'in', ['open', 'won']),
      group('or', [cond('amount', 'between', [100, 500]), cond('title', 'starts_with', 'Big')]),
      group('and', [cond('owner', 'is_null', true)], true),
      group('or', [cond('closed', 'eq', false), cond('region', 'nin', ['north'])], true),
    ]);
    expect(toFilter(tree)).toEqual({
      and: [
        { field: 'status', op: 'in', value: ['open', 'won'] },
        {
          or: [
            { field: 'amount', op: 'between', value: [100, 500] },
            { field: 'title', op: 'starts_with', value: 'Big' },
          ],
        },
        { not: { field: 'owner', op: 'is_null', value: true } },
        {
          not: {
            or: [
              { field: 'closed', op: 'eq', value: false },
              { field: 'region', op: 'nin', value: ['north'] },
            ],
          },
        },
      ],
    });
  });

  it('leaves out incomplete conditions and empty groups', () => {
    const tree = group('or', [
      cond('title', 'contains', ''),
      cond('amount', 'between', [1, null]),
      cond('status', 'in', []),
      group('and', [], true),
      cond('amount', 'gte', 0),
    ]);
    expect(toFilter(tree)).toEqual({ field: 'amount', op: 'gte', value: 0 });
    expect(toFilter(emptyGroup())).toBeUndefined();
  });

  it('compares a currency by its amount', () => {
    expect(toFilter(cond('amount', 'gt', { amount: 5, currency: 'CNY' }))).toEqual({ field: 'amount', op: 'gt', value: 5 });
  });

  it('ANDs the view filter with the user filter', () => {
    const view = { field: 'status', op: 'eq', value: 'won' };
    const mine = { field: 'amount', op: 'gt', value: 1 };
    expect(andFilters(view, undefined)).toEqual(view);
    expect(andFilters(undefined, mine)).toEqual(mine);
    expect(andFilters(view, mine)).toEqual({ and: [view, mine] });
    expect(andFilters(undefined, undefined)).toBeUndefined();
  });

  it('starts a condition with the field type first operator and edits the tree by id', () => {
    const c = newCondition(f('done', 'boolean'));
    expect(c.op).toBe('eq');
    const root: Group = { ...emptyGroup(), children: [c] };
    const set = updateNode(root, c.id, (n) => ({ ...(n as Condition), value: true }));
    expect(toFilter(set)).toEqual({ field: 'done', op: 'eq', value: true });
    expect(toFilter(removeNode(set, c.id))).toBeUndefined();
    expect(newCondition(f('files', 'attachment')).value).toBe(true);
  });
});
