import { describe, expect, it } from 'vitest';
import type { ViewDef } from '../api';
import {
  initialColumns,
  moveColumn,
  resizeColumn,
  LINE_PX,
  ROW_HEIGHTS,
  rowHeightOf,
  rowHeightStyle,
  saveTargets,
  toggleColumn,
  viewBody,
  viewName,
} from './viewModel';


const fields = [{ name: 'title' }, { name: 'amount' }, { name: 'close' }];

describe('the grid layout as a view', () => {
  it('opens with the view columns still in the entity, else every field', () => {
    expect(initialColumns(fields)).toEqual([{ field: 'title' }, { field: 'amount' }, { field: 'close' }]);
    expect(
      initialColumns(fields, { columns: [{ field: 'close', width: 200 }, { field: 'gone' }, { field: 'title' }] }),
    ).toEqual([{ field: 'close', width: 200 }, { field: 'title' }]);
  });

  it('moves, resizes within the allowed widths and toggles columns', () => {
    const cols = initialColumns(fields);
    expect(moveColumn(cols, 2, 0).map((c) => c.field)).toEqual(['close', 'title', 'amount']);
    expect(moveColumn(cols, 0, 9).map((c) => c.field)).toEqual(['amount', 'close', 'title']);
    expect(resizeColumn(cols, 'amount', 333.4)[1]).toEqual({ field: 'amount', width: 333 });
    expect(resizeColumn(cols, 'amount', 5)[1].width).toBe(40);
    expect(resizeColumn(cols, 'amount', 9000)[1].width).toBe(2000);
    expect(toggleColumn(cols, 'amount').map((c) => c.field)).toEqual(['title', 'close']);
    expect(toggleColumn([{ field: 'title' }], 'title')).toEqual([{ field: 'title' }]);
    expect(toggleColumn([{ field: 'title' }], 'close')).toEqual([{ field: 'title' }, { field: 'close' }]);
  });

  it('saves the layout over the base view, joining its filter with the user one', () => {
    const base: ViewDef = {
      name: 'mine',
      label: { en: 'Mine' },
      entity: 'deal',
      type: 'grid',
      default: true,
      row_height: 'tall',
      filter: { field: 'owner', op: 'eq', value: '$user.id' } as unknown as ViewDef['filter'],
    };
    const user = { field: 'amount', op: 'gt', value: 5 };
    const layout = {
      columns: [{ field: 'close', width: 210 }, { field: 'title' }],
      sort: [{ field: 'amount', desc: true }, { field: 'title', desc: false }],
      filter: user,
      groupBy: 'close',
    };
    expect(viewBody(base, layout, { name: 'mine', label: base.label, entity: 'deal', personal: false })).toEqual({
      name: 'mine',
      label: { en: 'Mine' },
      entity: 'deal',
      type: 'grid',
      default: true,
      row_height: 'tall',
      filter: { and: [base.filter, user] },
      sort: [{ field: 'amount', desc: true }, { field: 'title' }],
      columns: [{ field: 'close', width: 210 }, { field: 'title' }],
      group_by: 'close',
    });
    const personal = viewBody(base, { ...layout, filter: undefined, groupBy: undefined }, {
      name: 'copy',
      label: { zh: '副本' },
      entity: 'deal',
      personal: true,
    });
    expect(personal.default).toBeUndefined();
    expect(personal.filter).toEqual(base.filter);
    expect(personal.group_by).toBeUndefined();
    expect(viewBody(undefined, { columns: [], sort: [] }, { name: 'a', label: { en: 'A' }, entity: 'deal', personal: true })).toEqual({
      name: 'a',
      label: { en: 'A' },
      entity: 'deal',
      type: 'grid',
    });
  });

  it('names a view from its label, Chinese labels and taken names included', () => {
    expect(viewName('My big deals!', new Set())).toBe('my_big_deals');
    expect(viewName('My big deals', new Set(['my_big_deals']))).toBe('my_big_deals_2');
    expect(viewName('我的视图', new Set())).toBe('view');
    expect(viewName('我的视图', new Set(['view', 'view_2']))).toBe('view_3');
    expect(viewName('2024 deals', new Set())).toBe('deals');
  });

  it('offers saving to the shared view only to those who may change the app', () => {
    expect(saveTargets('personal', false)).toEqual(['personal', 'newPersonal']);
    expect(saveTargets('shared', false)).toEqual(['newPersonal']);
    expect(saveTargets('shared', true)).toEqual(['newPersonal', 'shared']);
    expect(saveTargets('entity', true)).toEqual(['newPersonal']);
  });
});

describe("a view's row height", () => {
  it("is the view's, short when it says none", () => {
    expect(rowHeightOf(undefined)).toBe('short');
    expect(rowHeightOf({})).toBe('short');
    expect(rowHeightOf({ row_height: 'tall' })).toBe('tall');
    expect(rowHeightOf({ row_height: 'nonsense' as never })).toBe('short');
  });

  it('sets the rows height and the lines a cell shows, which fit in the row', () => {
    expect(Object.keys(ROW_HEIGHTS).sort()).toEqual(['extra_tall', 'medium', 'short', 'tall']);
    expect(rowHeightStyle('tall')).toEqual({ '--grid-row-height': '88px', '--grid-row-lines': '3' });
    for (const { px, lines } of Object.values(ROW_HEIGHTS)) expect(lines * LINE_PX).toBeLessThan(px);
  });
});
