import { describe, expect, it } from 'vitest';
import { aggregateBody, dayStart, groupFilter, isGroupable, isSummable, periodEnd } from './groupModel';

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

  it('lists a datetime group by the days of the zone the server bucketed it in', () => {
    // The tenant's zone is Shanghai (UTC+8): February there runs from 16:00 UTC on 31 January.
    expect(groupFilter({ field: 'at', unit: 'month' }, { type: 'datetime' }, '2026-02-01', undefined, 'Asia/Shanghai')).toEqual({
      and: [
        { field: 'at', op: 'gte', value: '2026-01-31T16:00:00Z' },
        { field: 'at', op: 'lt', value: '2026-02-28T16:00:00Z' },
      ],
    });
    expect(groupFilter({ field: 'at', unit: 'day' }, { type: 'datetime' }, '2026-03-02', undefined, 'UTC')).toEqual({
      and: [
        { field: 'at', op: 'gte', value: '2026-03-02T00:00:00Z' },
        { field: 'at', op: 'lt', value: '2026-03-03T00:00:00Z' },
      ],
    });
    // An unknown zone name cuts in UTC rather than failing.
    expect(dayStart('2026-03-02', 'Mars/Olympus')).toBe('2026-03-02T00:00:00Z');
  });

  it('follows summer time where a day starts', () => {
    // New York springs forward on 8 March 2026: that day starts at UTC−5, the next at UTC−4.
    expect(dayStart('2026-03-08', 'America/New_York')).toBe('2026-03-08T05:00:00Z');
    expect(dayStart('2026-03-09', 'America/New_York')).toBe('2026-03-09T04:00:00Z');
    expect(dayStart('2026-11-01', 'America/New_York')).toBe('2026-11-01T04:00:00Z');
    expect(dayStart('2026-11-02', 'America/New_York')).toBe('2026-11-02T05:00:00Z');
    // Santiago skips its midnight on 6 September 2026: the day starts when the clocks jump to 01:00.
    expect(dayStart('2026-09-06', 'America/Santiago')).toBe('2026-09-06T04:00:00Z');
    expect(dayStart('2026-09-07', 'America/Santiago')).toBe('2026-09-07T03:00:00Z');
    // Kolkata is UTC+5:30 all year.
    expect(dayStart('2026-07-01', 'Asia/Kolkata')).toBe('2026-06-30T18:30:00Z');
  });

  it('knows where each period ends', () => {
    expect(periodEnd('2026-12-31', 'day')).toBe('2027-01-01');
    expect(periodEnd('2026-10-01', 'quarter')).toBe('2027-01-01');
    expect(periodEnd('2024-01-01', 'year')).toBe('2025-01-01');
    expect(periodEnd('2026-01-01', 'month')).toBe('2026-02-01');
  });
});
