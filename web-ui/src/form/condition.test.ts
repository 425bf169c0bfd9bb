// The shared cases of form conditions: the same file `cargo test` runs against the server's
// evaluator (`trellis_core::condition`); both must give every case's `expected`.

import { describe, expect, it } from 'vitest';
import shared from '../../../schemas/tests/conditions.json';
import type { FieldDef } from '../api';
import { fieldTypes, holds, instant, isRequiredNow, isVisible, type Condition } from './condition';

interface Case {
  name: string;
  condition: Condition;
  record: Record<string, unknown>;
  user?: string;
  expected: boolean;
}

const fields = fieldTypes(shared.entity.fields as Pick<FieldDef, 'name' | 'type'>[]);
const cases = shared.cases as unknown as Case[];

describe('the shared condition cases', () => {
  it('are at least forty', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    expect(holds(c.condition, fields, c.record, c.user ?? '')).toBe(c.expected);
  });
});

describe('conditions in the form', () => {
  it('read date-times to the microsecond, at any offset', () => {
    expect(instant('1970-01-01T00:00:00.000001Z')).toBe(1n);
    expect(instant('1970-01-01T08:00:00+08:00')).toBe(0n);
    expect(instant('2026-02-30T00:00:00Z')).toBeNull();
  });
  it('hide a field whose visible_if is false and require by required_if', () => {
    const vat = { visible_if: { field: 'kind', op: 'eq', value: 'wholesale' } } as Pick<FieldDef, 'visible_if'>;
    const types = fieldTypes([
      { name: 'kind', type: 'single_select' },
      { name: 'amount', type: 'decimal' },
    ]);
    expect(isVisible(vat, types, { kind: 'retail' })).toBe(false);
    expect(isVisible(vat, types, { kind: 'wholesale' })).toBe(true);
    expect(isVisible({}, types, {})).toBe(true);
    const reason = { required_if: { field: 'amount', op: 'gt', value: 1000 } } as Pick<FieldDef, 'required' | 'required_if'>;
    expect(isRequiredNow(reason, types, { amount: 1500 })).toBe(true);
    expect(isRequiredNow(reason, types, { amount: 15 })).toBe(false);
    // A Rhai required_if is the server's to judge.
    expect(isRequiredNow({ required_if: 'record.amount > 1' }, types, { amount: 15 })).toBe(false);
  });
});
