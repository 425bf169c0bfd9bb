// The grid of an entity's records: columns from the fields in definition order, rows page by
// page as the user scrolls (by keyset cursor, or by offset after a jump of the scrollbar), only
// the visible rows in the DOM (grid/WindowTable.tsx), the total counted on the side, quick
// search and server-side sort.

import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Empty, Input, Space, Tooltip, Typography } from 'antd';
import type { ColumnsType, SorterResult } from 'antd/es/table/interface';
import { PlusOutlined, ReloadOutlined } from '@ant-design/icons';
import { useNavigate } from 'react-router';
import { toProblem, type App, type EntityDef, type ViewDef } from '../api';
import { peopleById, useUsers } from '../api/queries/users';
import { hasRight, readableEntities, readOnlyFields, type Caller } from '../apps/rights';
import { localize, useI18n } from '../i18n';
import { columnWidth, isNumeric, isSortable, renderCell, type CellContext } from './cells';
import { sortAfterClick, type ListOptions, type RecordRow, type SortKey } from './listRequest';
import { SortPanel } from './SortPanel';
import { GroupButton, GroupedGrid } from './GroupedGrid';
import type { GroupSpec } from './groupModel';
import { BulkBar } from './BulkBar';
import type { BulkErrors } from './bulk';
import { recordKeys, useRecordCount } from './queries';
import { ColumnTitle, WindowTable } from './WindowTable';
import { cachedRows } from './windowQueries';
import { FilterButton, FilterChips } from './FilterBuilder';
import { andFilters, emptyGroup, filterableFields, toFilter, type Group } from './filterModel';
import { editableInPlace, type CellSave } from './inlineEdit';
import { initialColumns, resizeColumn, rowHeightOf, rowHeightStyle, type GridColumn } from './viewModel';
import { ColumnsPanel, ResizableHeader, SaveViewMenu } from './ViewTools';
import { isGroupable } from './groupModel';
import { useMyViews } from './viewQueries';
import { isSystemField, withSystemFields } from './systemFields';
import { useRowRights } from './rowRights';
import { columnFields, relationsToExpand, viewSort } from './gridList';

// The cell editor (the form's inputs) loads when a cell is first double-clicked.
const InlineEditor = lazy(() => import('./InlineEditor'));

/** Double-click waits this long before a click on an editable cell opens the record. */
const OPEN_DELAY_MS = 250;

/** The cell being edited, and the messages of cells whose save was refused (`id:field`). */
interface Editing {
  id: string;
  field: string;
}

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const id = setTimeout(() => setV(value), ms);
    return () => clearTimeout(id);
  }, [value, ms]);
  return v;
}

export function EntityGrid({
  app,
  entity,
  view,
  caller,
  opened = view ? 'shared' : 'entity',
}: {
  app: App;
  entity: EntityDef;
  view?: ViewDef;
  caller: Caller;
  /** What the grid shows: a personal view, a shared view, or the entity (its default view). */
  opened?: 'personal' | 'shared' | 'entity';
}) {
  const { lang, t } = useI18n();
  const navigate = useNavigate();
  const [search, setSearch] = useState('');
  const q = useDebounced(search, 250);
  const [sort, setSort] = useState<SortKey[]>(() => viewSort(view));
  // The entity's fields and its system fields (owner, created_by, created_at, updated_at,
  // stage): columns, sort keys, filters and groups alike (grid/systemFields.ts).
  const gridEntity = useMemo(() => withSystemFields(entity), [entity]);
  const allFields = useMemo(() => gridEntity.fields ?? [], [gridEntity]);

  const shiftRef = useRef(false);
  const [groupSpec, setGroupSpec] = useState<GroupSpec | null>(() => {
    const f = allFields.find((x) => x.name === view?.group_by);
    return f && view?.type === 'grid' && isGroupable(f) ? { field: f.name } : null;
  });
  const [selectedIds, setSelectedIds] = useState<React.Key[]>([]);
  const [bulkErrs, setBulkErrs] = useState<BulkErrors | null>(null);
  const sortFields = useMemo(() => allFields.filter(isSortable), [allFields]);

  // The visible columns in order with their widths: the view's when it opens, then the user's
  // (chosen and ordered in the columns panel, resized by dragging a header's edge).
  const [cols, setCols] = useState<GridColumn[]>(() => initialColumns(entity.fields ?? [], view, allFields));
  const fields = useMemo(() => columnFields(gridEntity, cols), [gridEntity, cols]);
  const onResize = useCallback((field: string, w: number) => setCols((prev) => resizeColumn(prev, field, w)), []);
  const myViews = useMyViews(app.name);
  const taken = useMemo(() => new Set((myViews.data ?? []).map((v) => v.view.name)), [myViews.data]);

  const readable = useMemo(() => new Set(readableEntities(app, caller).map((e) => e.name)), [app, caller]);
  // The list as grid/gridList.ts composes it (the cold load asks for its first page the same way).
  const expand = useMemo(() => relationsToExpand(fields, readable), [fields, readable]);
  const [tree, setTree] = useState<Group>(() => emptyGroup());
  const filterFields = useMemo(() => filterableFields(allFields), [allFields]);
  const userFilter = useMemo(() => toFilter(tree), [tree]);
  const filter = useMemo(
    () => andFilters(view?.filter, userFilter),
    [view, userFilter],
  );
  const options: ListOptions = useMemo(() => ({ q, sort, expand, filter }), [q, sort, expand, filter]);

  const qc = useQueryClient();
  const count = useRecordCount(app.name, entity.name, options);
  // What the caller may do with each row, as its page says (grid/rowRights.ts).
  const rowRights = useRowRights(app.name, entity.name, options);
  const [pageError, setPageError] = useState<unknown>(null);

  // Names of the people in user columns: the tenant's users, one request for the whole grid.
  const users = useUsers(fields.some(({ field }) => field.type === 'user'));
  const people = useMemo(() => peopleById(users.data), [users.data]);
  const ctx: CellContext = useMemo(
    () => ({ lang, t, app: app.name, entities: app.entities ?? [], readable, people }),
    [lang, t, app, readable, people],
  );

  // The view's row height: the grid's body gives every row its height (src/index.css; the window
  // measures a drawn row), and in taller rows a cell's text wraps over the lines they hold.
  const rowHeight = rowHeightOf(view);
  const rowStyle = useMemo(() => (rowHeight === 'short' ? undefined : (rowHeightStyle(rowHeight) as React.CSSProperties)), [rowHeight]);
  const lines = useCallback(
    (node: React.ReactNode) => (rowHeight === 'short' ? node : <div className="cell-lines">{node}</div>),
    [rowHeight],
  );

  // Inline edit: a double-click on a cell of a field the caller may change opens its input; the
  // save is a PATCH of that field with the row's version (grid/inlineEdit.ts).
  const mayUpdate = hasRight(app, entity.name, caller, 'update');
  const readOnly = useMemo(() => readOnlyFields(app, entity.name, caller), [app, entity.name, caller]);
  const [editing, setEditing] = useState<Editing | null>(null);
  const [cellErrors, setCellErrors] = useState<Record<string, string>>({});
  const openTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(openTimer.current), []);
  const finishEdit = useCallback((at: Editing, result: CellSave | null) => {
    setEditing(null);
    setCellErrors((prev) => {
      const { [`${at.id}:${at.field}`]: _, ...rest } = prev;
      return result && !result.ok ? { ...rest, [`${at.id}:${at.field}`]: result.message } : rest;
    });
  }, []);

  const columns: ColumnsType<RecordRow> = useMemo(
    () =>
      fields.map(({ field, width }) => {
        const rank = sort.findIndex((s) => s.field === field.name);
        const key = rank >= 0 ? sort[rank] : undefined;
        const editable = !groupSpec && !isSystemField(field.name) && editableInPlace(field, readOnly, mayUpdate);
        return {
          key: field.name,
          dataIndex: field.name,
          title: (
            <ColumnTitle testId={`col-${field.name}`}>
              {localize(field.label, lang) || field.name}
              {sort.length > 1 && rank >= 0 && <sup className="sort-rank-sup">{rank + 1}</sup>}
            </ColumnTitle>
          ),
          onCell: (r: RecordRow) =>
            // The row's own rights (its page says them): a row outside the caller's update
            // scope edits nowhere, whatever the entity's right.
            (editable && rowRights(r.id)?.update !== false
              ? {
                  'data-col': field.name,
                  'data-editable': 'true',
                  className: cellErrors[`${r.id}:${field.name}`] ? 'grid-cell-error' : undefined,
                  onDoubleClick: () => {
                    clearTimeout(openTimer.current);
                    setEditing({ id: r.id, field: field.name });
                  },
                }
              : { 'data-col': field.name }) as unknown as React.HTMLAttributes<HTMLElement>,
          onHeaderCell: () => ({
            resizeField: field.name,
            onResizeWidth: (w: number) => onResize(field.name, w),
            onMouseDown: (e: React.MouseEvent) => {
              shiftRef.current = e.shiftKey;
              // Shift-click adds a sort key; it should not select the header's text.
              if (e.shiftKey) e.preventDefault();
            },
          }),
          width: width ?? columnWidth(field),
          ellipsis: true,
          align: isNumeric(field) ? ('right' as const) : undefined,
          sorter: isSortable(field) ? { multiple: 1 } : false,
          sortOrder: key ? (key.desc ? ('descend' as const) : ('ascend' as const)) : null,
          sortDirections: ['ascend', 'descend'] as ('ascend' | 'descend')[],
          render: (value: unknown, r: RecordRow) => {
            if (editable && editing?.id === r.id && editing.field === field.name && rowRights(r.id)?.update !== false) {
              const at = editing;
              return (
                <Suspense fallback={renderCell(field, value, ctx)}>
                  <InlineEditor
                    app={app.name}
                    entity={entity.name}
                    entities={app.entities ?? []}
                    row={r}
                    field={field}
                    expand={expand}
                    onDone={(result) => finishEdit(at, result)}
                  />
                </Suspense>
              );
            }
            const err = cellErrors[`${r.id}:${field.name}`];
            if (!err) return lines(renderCell(field, value, ctx));
            return (
              <Tooltip title={err}>
                <span className="cell-error" data-testid="cell-error" data-field={field.name} data-message={err}>
                  {lines(renderCell(field, value, ctx))}
                </span>
              </Tooltip>
            );
          },
        };
      }),
    [fields, sort, lang, ctx, groupSpec, readOnly, mayUpdate, editing, cellErrors, app, entity.name, expand, finishEdit, onResize, lines, rowRights],
  );
  const scrollX = useMemo(() => columns.reduce((n, c) => n + Number(c.width ?? 160), 0), [columns]);


  // The selected rows as last loaded (they may be far from the rows on screen).
  const [selectedRows, setSelectedRows] = useState<RecordRow[]>([]);
  const selected = useMemo(() => {
    if (!selectedIds.length) return [];
    const latest = cachedRows(qc, app.name, entity.name, options);
    const ids = new Set(selectedIds);
    return selectedRows.filter((r) => ids.has(r.id)).map((r) => latest.get(r.id) ?? r);
  }, [qc, app.name, entity.name, options, selectedIds, selectedRows]);
  const canSelect = hasRight(app, entity.name, caller, 'update') || hasRight(app, entity.name, caller, 'delete');

  const error = pageError ? toProblem(pageError) : null;
  const total = count.data;
  const canCreate = hasRight(app, entity.name, caller, 'create');

  let status: string;
  if (total === undefined || total === null) status = t('grid.counting');
  else status = total === 1 ? t('grid.total.one') : t('grid.total', { n: total.toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-US') });

  return (
    <div className="grid-page" data-testid="grid-page">
      <div className="grid-toolbar">
        <Space wrap size="middle" className="grid-title">
          <Typography.Title level={4} style={{ margin: 0 }} data-testid="grid-title">
            {view ? localize(view.label, lang) : localize(entity.label, lang) || entity.name}
          </Typography.Title>
          <Typography.Text type="secondary" data-testid="grid-count">
            {status}
          </Typography.Text>
        </Space>
        <Space wrap size="small" className="grid-actions">
          <Input.Search
            allowClear
            disabled={!!groupSpec}
            title={groupSpec ? t('group.noSearch') : undefined}
            value={search}
            onChange={(e) => setSearch(e.target.value)}
            placeholder={t('grid.searchPlaceholder')}
            aria-label={t('grid.search')}
            className="grid-search"
            data-testid="grid-search"
          />
          <GroupButton
            spec={groupSpec}
            onChange={(s) => {
              // Groups are counted over the filter; quick search is off while grouped.
              if (s) setSearch('');
              setGroupSpec(s);
            }}
            fields={allFields}
          />
          <SortPanel sort={sort} onChange={setSort} fields={sortFields} />
          <FilterButton root={tree} onChange={setTree} fields={filterFields} app={app.name} entities={app.entities ?? []} />
          <ColumnsPanel columns={cols} fields={allFields} onChange={setCols} />
          <SaveViewMenu
            app={app.name}
            entity={entity.name}
            view={view}
            opened={opened}
            mayEditApp={caller.user.is_admin}
            layout={{ columns: cols, sort, filter: userFilter, groupBy: groupSpec?.field }}
            taken={taken}
          />
          <Tooltip title={t('grid.refresh')}>
            <Button
              icon={<ReloadOutlined />}
              aria-label={t('grid.refresh')}
              onClick={() => {
                void qc.invalidateQueries({ queryKey: recordKeys.list(app.name, entity.name, options) });
                void count.refetch();
              }}
            />
          </Tooltip>
          {/* The create right comes from the definition's roles and /me's app_roles (apps/rights.ts). */}
          {canCreate && (
            <Button
              type="primary"
              icon={<PlusOutlined />}
              onClick={() => navigate(`/apps/${app.name}/${entity.name}/new`)}
              data-testid="grid-new"
            >
              {t('grid.new')}
            </Button>
          )}
        </Space>
      </div>
      {canSelect && (
        <BulkBar
          app={app}
          entity={entity}
          caller={caller}
          selected={selected}
          rowRights={rowRights}
          onClear={() => {
            setSelectedIds([]);
            setBulkErrs(null);
          }}
          errors={bulkErrs}
          onErrors={setBulkErrs}
        />
      )}
      <FilterChips root={tree} fields={filterFields} onChange={setTree} app={app.name} entities={app.entities ?? []} />
      {error && (
        <Alert
          type="error"
          showIcon
          className="page-alert"
          message={t('grid.loadFailed')}
          description={error.displayMessage}
          data-testid="grid-error"
        />
      )}
      {groupSpec && (
        <div className="grid-body grid-grouped" style={rowStyle} data-row-height={rowHeight}>
          <GroupedGrid
            app={app.name}
            entity={entity}
            spec={groupSpec}
            fields={allFields}
            options={{ sort, expand, filter }}
            columns={columns}
            scrollX={scrollX}
            ctx={ctx}
            onOpen={(r) => navigate(`/apps/${app.name}/${entity.name}/${encodeURIComponent(r.id)}`)}
          />
        </div>
      )}
      <div className="grid-body" hidden={!!groupSpec} style={rowStyle} data-row-height={rowHeight}>
        <WindowTable
          app={app.name}
          entity={entity.name}
          options={options}
          total={total}
          columns={columns}
          scrollX={scrollX}
          headerCell={ResizableHeader}
          onError={setPageError}
          selection={
            canSelect && !groupSpec
              ? {
                  selected: selectedIds,
                  onChange: (keys, picked) => {
                    setSelectedIds(keys);
                    setSelectedRows(picked);
                  },
                  checkboxProps: (r) => ({ 'aria-label': t('bulk.selectRow'), 'data-testid': `select-${r.id}` }),
                }
              : undefined
          }
          rowClassName={(r) => (bulkErrs?.rows.has(r.id) ? 'grid-row-error' : '')}
          emptyText={
            <Empty
              image={Empty.PRESENTED_IMAGE_SIMPLE}
              description={q.trim() ? t('grid.noMatch', { q: q.trim() }) : t('grid.empty')}
            />
          }
          onChange={(_p, _f, sorter) => {
            // The clicked column's state comes last (antd's multiple sorter).
            const all = (Array.isArray(sorter) ? sorter : [sorter]) as SorterResult<RecordRow>[];
            const s = all[all.length - 1];
            if (!s?.columnKey) return;
            setSort((prev) => sortAfterClick(prev, String(s.columnKey), s.order, shiftRef.current));
            shiftRef.current = false;
          }}
          onRowClick={(r, e, row) => {
            const target = e.target as HTMLElement;
            // Clicks in the cell editor, and in its dropdowns (portals), are the editor's.
            if (!row.contains(target) || target.closest('.cell-editor')) return;
            const open = () => navigate(`/apps/${app.name}/${entity.name}/${encodeURIComponent(r.id)}`);
            clearTimeout(openTimer.current);
            // On an editable cell the click may be the first of a double-click.
            if (target.closest('[data-editable="true"]')) openTimer.current = setTimeout(open, OPEN_DELAY_MS);
            else open();
          }}
        />
      </div>
    </div>
  );
}
