// The grid grouped by a field: one header per group with its count and the sum of a chosen
// number column, counted in the database (`POST …/aggregate`); expanding a group lists its rows
// (the list API with the group's filter), page after page.

import { useMemo, useState } from 'react';
import { Alert, Button, Collapse, Empty, Popover, Select, Spin, Table, Tag, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table/interface';
import { GroupOutlined } from '@ant-design/icons';
import { useQuery } from '@tanstack/react-query';
import { toProblem, unwrap, useApi, type EntityDef, type FieldDef } from '../api';
import { formatDate, localize, useI18n } from '../i18n';
import { renderCell, type CellContext } from './cells';
import { useUsers } from '../api/queries/users';
import {
  aggregateBody,
  BUCKET_UNITS,
  COUNT,
  groupFilter,
  isBucketed,
  isGroupable,
  isSummable,
  SUM,
  UNIT_LABEL,
  type BucketUnit,
  type GroupSpec,
} from './groupModel';
import type { ListOptions, RecordRow } from './listRequest';
import { useRecordPages } from './queries';
import { ResizableHeader } from './ViewTools';

interface AggregateGroup {
  key: Record<string, unknown>;
  measures: Record<string, unknown>;
}

export function GroupButton({
  spec,
  onChange,
  fields,
}: {
  spec: GroupSpec | null;
  onChange: (s: GroupSpec | null) => void;
  fields: readonly FieldDef[];
}) {
  const { lang, t } = useI18n();
  const label = (f: FieldDef) => localize(f.label, lang) || f.name;
  const groupable = fields.filter(isGroupable);
  const summable = fields.filter(isSummable);
  const field = fields.find((f) => f.name === spec?.field);
  return (
    <Popover
      trigger="click"
      placement="bottomRight"
      title={t('group.title')}
      content={
        <div className="sort-panel" data-testid="group-panel">
          <Select
            allowClear
            className="group-select"
            placeholder={t('group.none')}
            value={spec?.field}
            options={groupable.map((f) => ({ value: f.name, label: label(f) }))}
            onChange={(name?: string) => {
              const f = fields.find((x) => x.name === name);
              onChange(f ? { field: f.name, unit: isBucketed(f) ? 'month' : undefined, sum: spec?.sum } : null);
            }}
            data-testid="group-field"
          />
          {field && isBucketed(field) && (
            <Select
              className="group-select"
              value={spec?.unit ?? 'month'}
              options={BUCKET_UNITS.map((u) => ({ value: u, label: t(UNIT_LABEL[u]) }))}
              onChange={(unit: BucketUnit) => spec && onChange({ ...spec, unit })}
              data-testid="group-unit"
            />
          )}
          {spec && (
            <Select
              allowClear
              className="group-select"
              placeholder={t('group.noSum')}
              value={spec.sum}
              options={summable.map((f) => ({ value: f.name, label: t('group.sumOf', { field: label(f) }) }))}
              onChange={(sum?: string) => onChange({ ...spec, sum })}
              data-testid="group-sum"
            />
          )}
          {groupable.length === 0 && <Typography.Text type="secondary">{t('group.noFields')}</Typography.Text>}
        </div>
      }
    >
      <Button icon={<GroupOutlined />} type={spec ? 'primary' : 'default'} ghost={!!spec} data-testid="group-button">
        {field ? t('group.by', { field: label(field) }) : t('group.button')}
      </Button>
    </Popover>
  );
}

/** The rows of one group, fetched when it is opened. */
function GroupRows({
  app,
  entity,
  options,
  columns,
  scrollX,
  onOpen,
}: {
  app: string;
  entity: string;
  options: ListOptions;
  columns: ColumnsType<RecordRow>;
  scrollX: number;
  onOpen: (r: RecordRow) => void;
}) {
  const { t } = useI18n();
  const pages = useRecordPages(app, entity, { ...options, limit: 50 });
  const rows = useMemo(() => pages.data?.pages.flatMap((p) => p.data) ?? [], [pages.data]);
  if (pages.error) return <Alert type="error" showIcon message={toProblem(pages.error).displayMessage} />;
  return (
    <div data-testid="group-rows">
      <Table<RecordRow>
        size="small"
        rowKey="id"
        columns={columns}
        components={{ header: { cell: ResizableHeader } }}
        dataSource={rows}
        loading={pages.isLoading}
        pagination={false}
        scroll={{ x: scrollX }}
        onRow={(r) => ({ onClick: () => onOpen(r), 'data-row-id': r.id }) as React.HTMLAttributes<HTMLElement>}
      />
      {pages.hasNextPage && (
        <Button size="small" type="link" loading={pages.isFetchingNextPage} onClick={() => void pages.fetchNextPage()}>
          {t('group.more')}
        </Button>
      )}
    </div>
  );
}

export function GroupedGrid({
  app,
  entity,
  spec,
  fields,
  options,
  columns,
  scrollX,
  ctx,
  onOpen,
}: {
  app: string;
  entity: EntityDef;
  spec: GroupSpec;
  fields: readonly FieldDef[];
  options: ListOptions;
  columns: ColumnsType<RecordRow>;
  scrollX: number;
  ctx: CellContext;
  onOpen: (r: RecordRow) => void;
}) {
  const api = useApi();
  const { lang, t } = useI18n();
  const field = fields.find((f) => f.name === spec.field);
  const sumField = fields.find((f) => f.name === spec.sum);
  const body = field ? aggregateBody(spec, field, options.filter) : null;
  const groups = useQuery({
    queryKey: ['records', app, entity.name, 'aggregate', body],
    enabled: !!body,
    queryFn: async ({ signal }) =>
      (await unwrap(
        api.POST('/api/v1/data/{app}/{entity}/aggregate', {
          params: { path: { app, entity: entity.name } },
          body: body as never,
          signal,
        }),
      )) as unknown as { groups: AggregateGroup[]; truncated: boolean; time_zone?: string },
  });
  // A select's groups follow its options' order (the API sorts them by stored value).
  const list = useMemo(() => {
    const all = groups.data?.groups ?? [];
    const options = field?.type === 'single_select' ? (field.options ?? []).map((o) => o.value) : null;
    if (!options) return all;
    const rank = (g: AggregateGroup) => {
      const i = options.indexOf(String(g.key[spec.field]));
      return i < 0 ? options.length : i;
    };
    return [...all].sort((a, b) => rank(a) - rank(b));
  }, [groups.data, field, spec.field]);
  const keys = useMemo(() => list.map((g) => g.key[spec.field] ?? null), [list, spec.field]);

  // Titles of related records and names of users: one request for all the groups.
  const relIds = field?.type === 'relation' ? keys.filter((k): k is string => typeof k === 'string') : [];
  const target = entity && field?.type === 'relation' ? ctx.entities.find((e) => e.name === field.target) : undefined;
  const titles = useQuery({
    queryKey: ['records', app, target?.name ?? '', 'titles', relIds],
    enabled: !!target && relIds.length > 0 && (!ctx.readable || ctx.readable.has(target.name)),
    queryFn: async ({ signal }) =>
      (
        (await unwrap(
          api.GET('/api/v1/data/{app}/{entity}', {
            params: {
              path: { app, entity: target!.name },
              query: { limit: Math.min(relIds.length, 1000), filter: JSON.stringify({ field: 'id', op: 'in', value: relIds }) },
            },
            signal,
          }),
        )) as unknown as { data: RecordRow[] }
      ).data,
  });
  const users = useUsers(field?.type === 'user');

  const [open, setOpen] = useState<string[]>([]);
  if (!field) return null;
  if (groups.error) {
    return <Alert type="error" showIcon className="page-alert" message={t('group.failed')} description={toProblem(groups.error).displayMessage} />;
  }
  if (groups.isLoading) return <Spin className="group-spin" />;
  if (!list.length) return <Empty image={Empty.PRESENTED_IMAGE_SIMPLE} description={t('grid.empty')} />;

  const keyLabel = (key: unknown) => {
    if (key === null || key === undefined) return <Tag>{t('group.emptyKey')}</Tag>;
    if (isBucketed(field)) return <span>{formatDate(String(key), lang)}</span>;
    if (field.type === 'boolean') return <Tag>{key ? t('value.yes') : t('value.no')}</Tag>;
    if (field.type === 'user') {
      const u = users.data?.find((x) => x.id === key);
      if (u) return <span className="cell-user">{u.name || u.email}</span>;
    }
    if (field.type === 'relation') {
      const r = titles.data?.find((x) => x.id === key);
      if (r) return renderCell(field, r, ctx);
    }
    return renderCell(field, key, ctx);
  };

  return (
    <div className="group-list" data-testid="group-list">
      {groups.data?.truncated && <Alert type="info" showIcon message={t('group.truncated', { n: list.length })} />}
      <Collapse
        activeKey={open}
        onChange={(k) => setOpen(Array.isArray(k) ? k : [k])}
        items={list.map((g, i) => {
          const key = keys[i];
          const count = Number(g.measures[COUNT] ?? 0);
          const sum = g.measures[SUM];
          return {
            key: String(i),
            label: (
              <span className="group-head" data-testid="group-head" data-group-key={key === null ? '' : String(key)}>
                <span className="group-key">{keyLabel(key)}</span>
                <Typography.Text type="secondary" data-testid="group-count">
                  {count === 1 ? t('grid.total.one') : t('grid.total', { n: count })}
                </Typography.Text>
              </span>
            ),
            extra: sumField ? (
              <span className="group-sum" data-testid="group-sum-value">
                {t('group.sumValue', { field: localize(sumField.label, lang) || sumField.name })}
                <b className="group-sum-number">{sum === null || sum === undefined ? '—' : renderCell(sumField, sum, ctx)}</b>
              </span>
            ) : undefined,
            children: open.includes(String(i)) ? (
              <GroupRows
                app={app}
                entity={entity.name}
                options={{ ...options, filter: groupFilter(spec, field, key, options.filter, groups.data?.time_zone) }}
                columns={columns}
                scrollX={scrollX}
                onOpen={onOpen}
              />
            ) : null,
          };
        })}
      />
    </div>
  );
}
