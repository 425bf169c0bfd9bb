import { createRef, type ReactNode } from 'react';
import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render } from '@testing-library/react';
import type { ColumnType } from 'antd/es/table';
import { I18nProvider } from '../i18n';
import type { RecordRow } from './listRequest';
import { BodyContext, bodyColumns, SelectShown, WindowBody, type BodyModel, type RowSelect } from './WindowBody';
import { rowsIn } from './windowModel';

const rowsFrom = (from: number, to: number): RecordRow[] =>
  Array.from({ length: to - from }, (_, i) => ({ id: `r${from + i}`, title: `Row ${from + i}`, n: from + i }));
const ALL = rowsFrom(0, 100);

function model(rows: readonly RecordRow[], start: number, over: Partial<BodyModel> = {}): BodyModel {
  return {
    native: false,
    rows,
    start,
    top: start * 39,
    bottom: 0,
    span: 2,
    columns: [],
    rowClassName: () => '',
    select: null,
    selected: new Set(),
    topRef: createRef(),
    bottomRef: createRef(),
    onClick: () => undefined,
    ...over,
  };
}

function Body({ m, head }: { m: BodyModel; head?: ReactNode }) {
  return (
    <I18nProvider>
      <BodyContext.Provider value={m}>
        {head}
        <table>
          {/* antd gives its measure row first, then its own rows (not drawn). */}
          <WindowBody className="ant-table-tbody">{[null, <tr key="antd" data-testid="antd-row" />]}</WindowBody>
        </table>
      </BodyContext.Provider>
    </I18nProvider>
  );
}

const drawn = (c: HTMLElement) => [...c.querySelectorAll<HTMLElement>('tr.ant-table-row')];

describe('the rows of the windowed grid', () => {
  it('keeps the rows still in the window when it moves, and renders only those that come in', () => {
    const render1 = vi.fn((v: unknown) => String(v));
    const columns = bodyColumns([{ key: 'title', dataIndex: 'title', render: render1 }]);
    const { container, rerender } = render(<Body m={model(ALL.slice(0, 30), 0, { columns })} />);
    expect(render1).toHaveBeenCalledTimes(30);
    const row20 = container.querySelector('[data-row-id="r20"]');
    expect(container.querySelector('[data-testid="antd-row"]')).toBeNull();

    render1.mockClear();
    rerender(<Body m={model(ALL.slice(10, 40), 10, { columns })} />);
    expect(render1.mock.calls.map((c) => c[0])).toEqual(rowsFrom(30, 40).map((r) => r.title));
    expect(container.querySelector('[data-row-id="r20"]')).toBe(row20);
    expect(drawn(container).map((tr) => tr.dataset.rowId)).toEqual(rowsFrom(10, 40).map((r) => r.id));
  });

  it('draws skeletons where rows are not loaded, and reuses them after a jump', () => {
    const columns = bodyColumns([{ key: 'title', dataIndex: 'title' }]);
    const skeletons = (from: number) => rowsIn(from, from + 20, new Map(), 100);
    const { container, rerender } = render(<Body m={model(skeletons(500), 500, { columns })} />);
    const before = drawn(container);
    expect(before).toHaveLength(20);
    expect(before.every((tr) => tr.classList.contains('grid-row-placeholder') && tr.dataset.placeholder === 'true')).toBe(true);
    expect(container.querySelectorAll('[data-testid="grid-skeleton"]')).toHaveLength(20);

    rerender(<Body m={model(skeletons(70_013), 70_013, { columns })} />);
    const after = drawn(container);
    expect(after).toHaveLength(20);
    expect(new Set(after)).toEqual(new Set(before));
  });

  it('gives the cells antd’s classes, alignment and title', () => {
    const columns = bodyColumns([
      { key: 'title', dataIndex: 'title', ellipsis: true, sortOrder: 'ascend' },
      { key: 'n', dataIndex: 'n', align: 'right', onCell: () => ({ 'data-col': 'n', className: 'extra' }) as never },
    ] as ColumnType<RecordRow>[]);
    const { container } = render(<Body m={model(ALL.slice(0, 1), 0, { columns, rowClassName: () => 'grid-row-error' })} />);
    const tr = drawn(container)[0];
    expect(tr.className).toBe('ant-table-row ant-table-row-level-0 grid-row-error');
    const [title, n] = [...tr.querySelectorAll('td')];
    expect(title.className).toBe('ant-table-cell ant-table-cell-ellipsis ant-table-column-sort');
    expect(title.title).toBe('Row 0');
    expect(n.className).toBe('ant-table-cell extra');
    expect(n.style.textAlign).toBe('right');
    expect(n.dataset.col).toBe('n');
  });

  it('hands a click on a row to the grid, not one on its checkbox', () => {
    const onClick = vi.fn((e: React.MouseEvent) => (e.target as Element).closest('tr')?.getAttribute('data-row-id'));
    const select: RowSelect = {
      hashId: 'css-test',
      checkboxProps: (r) => ({ 'data-testid': `select-${r.id}` }),
      toggle: vi.fn(),
      toggleShown: vi.fn(),
    };
    const rows = [...ALL.slice(0, 3), ...rowsIn(3, 4, new Map(), 100)];
    const { container, getByTestId } = render(
      <Body m={model(rows, 0, { select, onClick, selected: new Set(['r1']), columns: bodyColumns([{ key: 'title', dataIndex: 'title' }]) })} />,
    );
    fireEvent.click(container.querySelector('[data-row-id="r2"] td:last-child')!);
    expect(onClick.mock.results.map((r) => r.value)).toEqual(['r2']);

    fireEvent.click(getByTestId('select-r0'));
    expect(select.toggle).toHaveBeenCalledWith(ALL[0], 0, true, false);
    expect(onClick).toHaveBeenCalledTimes(1);
    // antd's checkbox, as antd draws it.
    const r1 = container.querySelector('[data-row-id="r1"]')!;
    expect(r1.classList.contains('ant-table-row-selected')).toBe(true);
    expect(r1.querySelector('label')!.className).toBe('ant-checkbox-wrapper ant-checkbox-wrapper-checked css-test');
    expect(r1.querySelector('.ant-checkbox')!.className).toBe('ant-checkbox ant-wave-target css-test ant-checkbox-checked');
    expect(r1.querySelector<HTMLInputElement>('input.ant-checkbox-input')!.checked).toBe(true);
    // A skeleton's checkbox is disabled.
    expect(container.querySelector<HTMLInputElement>('.grid-row-placeholder input')!.disabled).toBe(true);
  });

  it('selects the rows shown from the header, with the state of those rows', () => {
    const select: RowSelect = { hashId: 'css-test', checkboxProps: () => ({}), toggle: vi.fn(), toggleShown: vi.fn() };
    const rows = ALL.slice(0, 3);
    const view = (selected: string[]) => (
      <Body m={model(rows, 0, { select, selected: new Set(selected) })} head={<SelectShown />} />
    );
    const { getByTestId, rerender } = render(view(['r1']));
    const box = () => getByTestId('select-shown') as HTMLInputElement;
    expect(box().checked).toBe(false);
    expect(box().closest('.ant-checkbox')!.classList.contains('ant-checkbox-indeterminate')).toBe(true);
    fireEvent.click(box());
    expect(select.toggleShown).toHaveBeenCalledWith(true);

    rerender(view(['r0', 'r1', 'r2']));
    expect(box().checked).toBe(true);
  });

  it('leaves antd its own body (its empty state) when the window has no rows', () => {
    const { getByTestId } = render(<Body m={model([], 0, { native: true })} />);
    expect(getByTestId('antd-row')).toBeTruthy();
  });
});
