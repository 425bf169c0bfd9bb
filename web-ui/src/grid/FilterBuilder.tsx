// The grid's filter builder: a popover editing a tree of conditions in and/or groups (a group
// may be negated), each condition's value input fitting its field's type and operator, and the
// top-level conditions shown as removable chips beside the toolbar.

import { Button, Checkbox, Input, InputNumber, Popover, Select, Space, Tag, Typography } from 'antd';
import { DeleteOutlined, FilterOutlined, PlusOutlined } from '@ant-design/icons';
import { useQuery } from '@tanstack/react-query';
import { useState, type ReactNode } from 'react';
import { unwrap, useApi, type EntityDef, type FieldDef } from '../api';
import { useUsers } from '../api/queries/users';
import { DateInput, RelationPicker, SelectInput, UserPicker } from '../form/inputs';
import { relationTitle } from './cells';
import { localize, useI18n, type MessageKey } from '../i18n';
import {
  countConditions,
  emptyGroup,
  initialValue,
  isComplete,
  newCondition,
  OP_LABEL,
  operatorsFor,
  removeNode,
  updateNode,
  type Condition,
  type FilterNode,
  type Group,
  type Op,
} from './filterModel';

interface Env {
  fields: readonly FieldDef[];
  app: string;
  entities: readonly EntityDef[];
}

const NUMERIC = new Set(['integer', 'decimal', 'percent', 'currency']);

function fieldLabel(f: FieldDef | undefined, name: string, lang: 'zh' | 'en'): string {
  return (f && localize(f.label, lang)) || name;
}

/** One value of the field's type. */
function SingleValue({
  field,
  value,
  onChange,
  env,
  testid,
}: {
  field: FieldDef;
  value: unknown;
  onChange: (v: unknown) => void;
  env: Env;
  testid: string;
}) {
  const { t } = useI18n();
  if (NUMERIC.has(field.type)) {
    return (
      <InputNumber<number>
        value={typeof value === 'number' ? value : null}
        onChange={(v) => onChange(v ?? null)}
        className="filter-value"
        placeholder={t('filter.value')}
        data-testid={testid}
      />
    );
  }
  switch (field.type) {
    case 'single_select':
    case 'multi_select':
      return (
        <span className="filter-value" data-testid={testid}>
          <SelectInput field={field} multiple={false} value={value ?? undefined} onChange={onChange} />
        </span>
      );
    case 'boolean':
      return (
        <Select
          className="filter-value"
          value={typeof value === 'boolean' ? value : undefined}
          placeholder={t('filter.value')}
          onChange={onChange}
          options={[
            { value: true, label: t('value.yes') },
            { value: false, label: t('value.no') },
          ]}
          data-testid={testid}
        />
      );
    case 'date':
    case 'datetime':
      return (
        <span className="filter-value" data-testid={testid}>
          <DateInput field={field} withTime={field.type === 'datetime'} value={(value as string) ?? null} onChange={onChange} />
        </span>
      );
    case 'user':
      return (
        <span className="filter-value" data-testid={testid}>
          <UserPicker field={field} value={(value as string) ?? null} onChange={onChange} />
        </span>
      );
    case 'relation':
      return (
        <span className="filter-value" data-testid={testid}>
          <RelationPicker
            field={field}
            app={env.app}
            target={env.entities.find((e) => e.name === field.target)}
            value={(value as string) ?? null}
            onChange={onChange}
          />
        </span>
      );
    default:
      return (
        <Input
          className="filter-value"
          value={typeof value === 'string' ? value : ''}
          onChange={(e) => onChange(e.target.value)}
          placeholder={t('filter.value')}
          data-testid={testid}
        />
      );
  }
}

type Row = Record<string, unknown> & { id: string };

/** Several related records, searched by title (`q`) in the target entity. */
function RelationValues({
  field,
  value,
  onChange,
  env,
  testid,
}: {
  field: FieldDef;
  value: string[];
  onChange: (v: string[]) => void;
  env: Env;
  testid: string;
}) {
  const api = useApi();
  const { lang, t } = useI18n();
  const target = env.entities.find((e) => e.name === field.target);
  const [search, setSearch] = useState('');
  const [known, setKnown] = useState<Row[]>([]);
  const results = useQuery({
    queryKey: ['records', env.app, target?.name ?? '', 'pick', search.trim()],
    enabled: !!target,
    queryFn: async ({ signal }) =>
      (
        (await unwrap(
          api.GET('/api/v1/data/{app}/{entity}', {
            params: { path: { app: env.app, entity: target!.name }, query: { limit: 20, ...(search.trim() ? { q: search.trim() } : {}) } },
            signal,
          }),
        )) as unknown as { data: Row[] }
      ).data,
    placeholderData: (prev) => prev,
  });
  const rows = [...known, ...(results.data ?? []).filter((r) => !known.some((k) => k.id === r.id))];
  return (
    <Select
      className="filter-value"
      mode="multiple"
      showSearch
      filterOption={false}
      onSearch={setSearch}
      value={value}
      placeholder={t('form.searchRecord')}
      options={rows.map((r) => ({ value: r.id, label: relationTitle(target, r, lang) }))}
      onChange={(ids: string[]) => {
        setKnown(rows.filter((r) => ids.includes(r.id)));
        onChange(ids);
      }}
      data-testid={testid}
    />
  );
}

/** Several values (in / nin). */
function ManyValues({
  field,
  value,
  onChange,
  env,
  testid,
}: {
  field: FieldDef;
  value: unknown[];
  onChange: (v: unknown[]) => void;
  env: Env;
  testid: string;
}) {
  const { lang, t } = useI18n();
  const users = useUsers(field.type === 'user');
  if (field.type === 'relation') {
    return <RelationValues field={field} value={value.map(String)} onChange={onChange} env={env} testid={testid} />;
  }
  if (field.type === 'single_select') {
    return (
      <span className="filter-value" data-testid={testid}>
        <SelectInput field={field} multiple value={value} onChange={(v) => onChange((v as unknown[]) ?? [])} />
      </span>
    );
  }
  const options =
    field.type === 'user'
      ? (users.data ?? []).map((u) => ({ value: u.id, label: u.name || u.email }))
      : undefined;
  const numeric = NUMERIC.has(field.type);
  return (
    <Select
      className="filter-value"
      mode={options ? 'multiple' : 'tags'}
      value={value.map(String)}
      options={options}
      optionFilterProp="label"
      tokenSeparators={[',']}
      placeholder={t('filter.values')}
      open={options ? undefined : false}
      onChange={(v: string[]) => onChange(numeric ? v.map(Number).filter((n) => !Number.isNaN(n)) : v)}
      notFoundContent={null}
      data-testid={testid}
      aria-label={fieldLabel(field, field.name, lang)}
    />
  );
}

function ValueInput({ c, field, env, onChange }: { c: Condition; field: FieldDef; env: Env; onChange: (v: unknown) => void }) {
  const { t } = useI18n();
  const testid = `filter-value-${c.id}`;
  if (c.op === 'is_null') {
    return (
      <Select
        className="filter-value"
        value={c.value === true}
        onChange={onChange}
        options={[
          { value: true, label: t('filter.isEmpty') },
          { value: false, label: t('filter.isNotEmpty') },
        ]}
        data-testid={testid}
      />
    );
  }
  if (c.op === 'in' || c.op === 'nin') {
    return <ManyValues field={field} value={Array.isArray(c.value) ? c.value : []} onChange={onChange} env={env} testid={testid} />;
  }
  if (c.op === 'between') {
    const pair = Array.isArray(c.value) ? c.value : [null, null];
    return (
      <Space size={4} data-testid={testid}>
        <SingleValue field={field} env={env} value={pair[0]} onChange={(v) => onChange([v, pair[1]])} testid={`${testid}-low`} />
        <Typography.Text type="secondary">{t('filter.and.between')}</Typography.Text>
        <SingleValue field={field} env={env} value={pair[1]} onChange={(v) => onChange([pair[0], v])} testid={`${testid}-high`} />
      </Space>
    );
  }
  return <SingleValue field={field} env={env} value={c.value} onChange={onChange} testid={testid} />;
}

function ConditionRow({ c, env, set, remove }: { c: Condition; env: Env; set: (c: Condition) => void; remove: () => void }) {
  const { lang, t } = useI18n();
  const field = env.fields.find((f) => f.name === c.field);
  return (
    <div className="filter-cond" data-testid="filter-cond">
      <Select
        className="filter-field"
        value={c.field}
        showSearch
        optionFilterProp="label"
        options={env.fields.map((f) => ({ value: f.name, label: fieldLabel(f, f.name, lang) }))}
        onChange={(name: string) => {
          const f = env.fields.find((x) => x.name === name);
          if (f) set({ ...newCondition(f), id: c.id });
        }}
        data-testid="filter-field"
      />
      <Select
        className="filter-op"
        value={c.op}
        options={(field ? operatorsFor(field.type) : (['is_null'] as Op[])).map((op) => ({
          value: op,
          label: t(OP_LABEL[op]),
        }))}
        onChange={(op: Op) => set({ ...c, op, value: initialValue(op) })}
        data-testid="filter-op"
      />
      {field && <ValueInput c={c} field={field} env={env} onChange={(value) => set({ ...c, value })} />}
      <Button type="text" icon={<DeleteOutlined />} aria-label={t('filter.remove')} onClick={remove} data-testid="filter-remove" />
    </div>
  );
}

function GroupBox({
  g,
  env,
  root,
  onChange,
  depth,
}: {
  g: Group;
  env: Env;
  root: Group;
  onChange: (root: Group) => void;
  depth: number;
}) {
  const { t } = useI18n();
  const set = (n: FilterNode) => onChange(updateNode(root, n.id, () => n));
  const first = env.fields[0];
  return (
    <div className={depth ? 'filter-group filter-group-nested' : 'filter-group'} data-testid={depth ? 'filter-subgroup' : 'filter-root'}>
      <Space size={8} wrap className="filter-group-head">
        <Select
          size="small"
          value={g.join}
          onChange={(join: 'and' | 'or') => set({ ...g, join })}
          options={[
            { value: 'and', label: t('filter.join.and') },
            { value: 'or', label: t('filter.join.or') },
          ]}
          popupMatchSelectWidth={false}
          data-testid="filter-join"
        />
        {depth > 0 && (
          <Checkbox checked={g.negate} onChange={(e) => set({ ...g, negate: e.target.checked })} data-testid="filter-not">
            {t('filter.not')}
          </Checkbox>
        )}
        {depth > 0 && (
          <Button
            size="small"
            type="text"
            icon={<DeleteOutlined />}
            aria-label={t('filter.removeGroup')}
            onClick={() => onChange(removeNode(root, g.id))}
          />
        )}
      </Space>
      {g.children.map((child) =>
        child.kind === 'cond' ? (
          <ConditionRow key={child.id} c={child} env={env} set={set} remove={() => onChange(removeNode(root, child.id))} />
        ) : (
          <GroupBox key={child.id} g={child} env={env} root={root} onChange={onChange} depth={depth + 1} />
        ),
      )}
      <Space size={8}>
        <Button
          size="small"
          icon={<PlusOutlined />}
          disabled={!first}
          onClick={() => first && set({ ...g, children: [...g.children, newCondition(first)] })}
          data-testid="filter-add"
        >
          {t('filter.addCondition')}
        </Button>
        {depth < 3 && (
          <Button
            size="small"
            icon={<PlusOutlined />}
            disabled={!first}
            onClick={() =>
              first && set({ ...g, children: [...g.children, { ...emptyGroup('or'), children: [newCondition(first)] }] })
            }
            data-testid="filter-add-group"
          >
            {t('filter.addGroup')}
          </Button>
        )}
      </Space>
    </div>
  );
}

/** A value as a chip shows it: option labels, yes/no, the pair of a range, the list of in. */
function chipValue(
  c: Condition,
  field: FieldDef | undefined,
  lang: 'zh' | 'en',
  t: (k: MessageKey) => string,
  names: ReadonlyMap<string, string>,
): string {
  const one = (v: unknown): string => {
    if (typeof v === 'boolean') return v ? t('value.yes') : t('value.no');
    if ((field?.type === 'relation' || field?.type === 'user') && names.has(String(v))) return names.get(String(v))!;
    const opt = field?.options?.find((o) => o.value === v);
    if (opt) return localize(opt.label, lang) || String(v);
    return String(v);
  };
  if (c.op === 'is_null') return c.value ? t('filter.isEmpty') : t('filter.isNotEmpty');
  if (Array.isArray(c.value)) return c.value.map(one).join(c.op === 'between' ? ' – ' : ', ');
  return one(c.value);
}

/** Titles of the related records and names of the users the top-level conditions name: one request per target. */
function useChipNames(root: Group, fields: readonly FieldDef[], app: string, entities: readonly EntityDef[]) {
  const api = useApi();
  const { lang } = useI18n();
  const byTarget = new Map<string, Set<string>>();
  let anyUser = false;
  for (const n of root.children) {
    if (n.kind !== 'cond' || !isComplete(n) || n.op === 'is_null') continue;
    const f = fields.find((x) => x.name === n.field);
    if (f?.type === 'user') anyUser = true;
    if (f?.type !== 'relation' || !f.target) continue;
    const ids = byTarget.get(f.target) ?? new Set<string>();
    for (const v of Array.isArray(n.value) ? n.value : [n.value]) ids.add(String(v));
    byTarget.set(f.target, ids);
  }
  const wanted = [...byTarget.entries()].map(([target, ids]) => [target, [...ids].sort()] as const).sort();
  const titles = useQuery({
    queryKey: ['records', app, 'chip-titles', wanted],
    enabled: wanted.length > 0,
    queryFn: async ({ signal }) => {
      const out: [string, string][] = [];
      for (const [target, ids] of wanted) {
        const entity = entities.find((e) => e.name === target);
        const page = (await unwrap(
          api.GET('/api/v1/data/{app}/{entity}', {
            params: {
              path: { app, entity: target },
              query: { limit: ids.length, filter: JSON.stringify({ field: 'id', op: 'in', value: ids }) },
            },
            signal,
          }),
        )) as unknown as { data: Row[] };
        for (const r of page.data) out.push([r.id, relationTitle(entity, r, lang)]);
      }
      return out;
    },
    placeholderData: (prev) => prev,
    retry: false,
  });
  const users = useUsers(anyUser);
  const names = new Map<string, string>(titles.data ?? []);
  for (const u of users.data ?? []) names.set(u.id, u.name || u.email);
  return names;
}

export function FilterChips({
  root,
  fields,
  onChange,
  app,
  entities,
}: {
  root: Group;
  fields: readonly FieldDef[];
  onChange: (g: Group) => void;
  app: string;
  entities: readonly EntityDef[];
}) {
  const { lang, t } = useI18n();
  const names = useChipNames(root, fields, app, entities);
  const chips: ReactNode[] = [];
  for (const n of root.children) {
    if (countConditions(n) === 0) continue;
    let text: string;
    if (n.kind === 'cond') {
      const f = fields.find((x) => x.name === n.field);
      text = t('filter.chip', {
        field: fieldLabel(f, n.field, lang),
        op: t(OP_LABEL[n.op]),
        value: chipValue(n, f, lang, t, names),
      });
    } else {
      text = n.negate ? t('filter.chipNotGroup', { n: countConditions(n) }) : t('filter.chipGroup', { n: countConditions(n) });
    }
    chips.push(
      <Tag
        key={n.id}
        closable
        onClose={(e) => {
          e.preventDefault();
          onChange(removeNode(root, n.id));
        }}
        className="filter-chip"
        data-testid="filter-chip"
      >
        {text}
      </Tag>,
    );
  }
  if (!chips.length) return null;
  return (
    <div className="filter-chips" data-testid="filter-chips">
      {root.join === 'or' && chips.length > 1 && <Typography.Text type="secondary">{t('filter.anyOf')}</Typography.Text>}
      {chips}
      <Button size="small" type="link" onClick={() => onChange({ ...root, children: [] })} data-testid="filter-clear">
        {t('filter.clear')}
      </Button>
    </div>
  );
}

export function FilterButton({
  root,
  onChange,
  fields,
  app,
  entities,
}: {
  root: Group;
  onChange: (g: Group) => void;
  fields: readonly FieldDef[];
  app: string;
  entities: readonly EntityDef[];
}) {
  const { t } = useI18n();
  const n = countConditions(root);
  const env: Env = { fields, app, entities };
  const incomplete = root.children.some((c) => c.kind === 'cond' && !isComplete(c));
  return (
    <Popover
      trigger="click"
      placement="bottomRight"
      destroyOnHidden={false}
      title={t('filter.title')}
      content={
        <div className="filter-builder" data-testid="filter-builder">
          <GroupBox g={root} env={env} root={root} onChange={onChange} depth={0} />
          {incomplete && (
            <Typography.Text type="secondary" className="filter-hint">
              {t('filter.incomplete')}
            </Typography.Text>
          )}
        </div>
      }
    >
      <Button icon={<FilterOutlined />} type={n ? 'primary' : 'default'} ghost={n > 0} data-testid="filter-button">
        {n ? t('filter.buttonCount', { n }) : t('filter.button')}
      </Button>
    </Popover>
  );
}
