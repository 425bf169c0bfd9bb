import { describe, expect, it } from 'vitest';
import { aggregateBody, groupFilter, isGroupable, isSummable, periodEnd } from './groupModel';

describe('group-by', () => {
  it('groups by choices, people, relations, booleans and date periods; sums numbers', () => {
    expect(['single_select', 'user', 'relation', 'boolean', 'date', 'datetime'].every((type) => isGroupable({ type } as never))).toBe(true);
    expect(isGroupable({ type: 'text' })).toBe(false);
    expect(isGroupable({ type: 'currency' })).toBe(false);
    expect(['integer', 'decimal', 'percent', 'currency'].every((type) => isSummable({ type } as never))).toBe(true);
    expect(isSummable({ type: 'date' })).toBe(false);
  });

  it('asks the aggregate API for a count and a sum per group', () => {
    const filter = { field: 'title', op: 'contains', value: 'a' };
    expect(aggregateBody({ field: 'status', sum: 'amount' }, { type: 'single_select' }, filter)).toEqual({
      group_by: ['status'],
      measures: [{ op: 'count' }, { op: 'sum', field: 'amount', as: 'sum' }],
      filter,
      sort: [{ by: 'status' }],
      limit: 500,
    });
    expect(aggregateBody({ field: 'signed', unit: 'quarter' }, { type: 'date' }, undefined)).toEqual({
      bucket: { field: 'signed', unit: 'quarter' },
      measures: [{ op: 'count' }],
      sort: [{ by: 'signed' }],
      limit: 500,
    });
  });

  it('lists exactly a group rows', () => {
    const grid = { field: 'amount', op: 'gt', value: 1 };
    expect(groupFilter({ field: 'status' }, { type: 'single_select' }, 'won', grid)).toEqual({
      and: [grid, { field: 'status', op: 'eq', value: 'won' }],
    });
    expect(groupFilter({ field: 'status' }, { type: 'single_select' }, null, undefined)).toEqual({
      field: 'status',
      op: 'is_null',
      value: true,
    });
    expect(groupFilter({ field: 'done' }, { type: 'boolean' }, false, undefined)).toEqual({ field: 'done', op: 'eq', value: false });
    expect(groupFilter({ field: 'signed', unit: 'month' }, { type: 'date' }, '2026-02-01', undefined)).toEqual({
      field: 'signed',
      op: 'between',
      value: ['2026-02-01', '2026-02-28'],
    });
    expect(groupFilter({ field: 'at', unit: 'week' }, { type: 'datetime' }, '2026-12-28', undefined)).toEqual({
      and: [
        { field: 'at', op: 'gte', value: '2026-12-28T00:00:00Z' },
        { field: 'at', op: 'lt', value: '2027-01-04T00:00:00Z' },
      ],
    });
  });

  it('knows where each period ends', () => {
    expect(periodEnd('2026-12-31', 'day')).toBe('2027-01-01');
    expect(periodEnd('2026-10-01', 'quarter')).toBe('2027-01-01');
    expect(periodEnd('2024-01-01', 'year')).toBe('2025-01-01');
    expect(periodEnd('2026-01-01', 'month')).toBe('2026-02-01');
  });
});
