import { describe, expect, it } from 'vitest';
import type { EntityDef } from '../api';
import { filterableFields, operatorsFor } from './filterModel';
import { isGroupable } from './groupModel';
import { isSortable } from './cells';
import { initialColumns } from './viewModel';
import { isSystemField, systemFields, withSystemFields } from './systemFields';

const L = (zh: string, en: string) => ({ zh, en });
const deal = {
  name: 'deal',
  label: L('商机', 'Deal'),
  fields: [{ name: 'title', label: L('标题', 'Title'), type: 'text' }],
  pipeline: {
    stages: [
      { key: 'new', label: L('新建', 'New') },
      { key: 'won', label: L('赢单', 'Won'), kind: 'won' },
    ],
    transitions: [],
  },
} as unknown as EntityDef;

describe('system fields in the grid', () => {
  it('follow the entity own fields, the stage only with a pipeline, labelled in both languages', () => {
    expect((withSystemFields(deal).fields ?? []).map((f) => f.name)).toEqual([
      'title',
      'owner',
      'created_by',
      'created_at',
      'updated_at',
      'stage',
    ]);
    expect(systemFields({}).map((f) => f.name)).toEqual(['owner', 'created_by', 'created_at', 'updated_at']);
    const owner = systemFields(deal).find((f) => f.name === 'owner')!;
    expect(owner).toMatchObject({ type: 'user', label: { zh: '所有者', en: 'Owner' } });
    expect(systemFields(deal).find((f) => f.name === 'created_by')!.label).toEqual({ zh: '创建人', en: 'Created by' });
    const stage = systemFields(deal).find((f) => f.name === 'stage')!;
    expect(stage.type).toBe('single_select');
    expect(stage.options).toEqual([
      { value: 'new', label: L('新建', 'New') },
      { value: 'won', label: L('赢单', 'Won') },
    ]);
    expect(isSystemField('owner') && isSystemField('stage') && !isSystemField('title')).toBe(true);
  });

  it('are offered as sort keys, filters and groups', () => {
    const all = systemFields(deal);
    expect(all.filter(isSortable).map((f) => f.name)).toEqual(['owner', 'created_by', 'created_at', 'updated_at', 'stage']);
    expect(filterableFields(all).map((f) => f.name)).toEqual(['owner', 'created_by', 'created_at', 'updated_at', 'stage']);
    expect(all.filter(isGroupable).map((f) => f.name)).toEqual(['owner', 'created_by', 'created_at', 'updated_at', 'stage']);
    expect(operatorsFor('datetime')).toContain('between');
  });

  it("stay in a view's columns, which were dropped before", () => {
    const view = { columns: [{ field: 'title' }, { field: 'owner', width: 150 }, { field: 'created_at' }, { field: 'gone' }] };
    const own = deal.fields ?? [];
    expect(initialColumns(own, view, withSystemFields(deal).fields)).toEqual([
      { field: 'title' },
      { field: 'owner', width: 150 },
      { field: 'created_at' },
    ]);
    // A grid without a view starts with the entity's own fields; system ones are a click away.
    expect(initialColumns(own, undefined, withSystemFields(deal).fields)).toEqual([{ field: 'title' }]);
  });
});
