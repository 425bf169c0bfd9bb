// The grid's sort panel: the sort keys in order (field and direction), to add, flip, move up or
// remove; the same keys a shift-click on the column headers edits.

import { Button, Popover, Select, Typography } from 'antd';
import { ArrowUpOutlined, DeleteOutlined, PlusOutlined, SortAscendingOutlined } from '@ant-design/icons';
import type { FieldDef } from '../api';
import { localize, useI18n } from '../i18n';
import { MAX_SORT_KEYS, type SortKey } from './listRequest';

export function SortPanel({
  sort,
  onChange,
  fields,
}: {
  sort: readonly SortKey[];
  onChange: (s: SortKey[]) => void;
  fields: readonly FieldDef[];
}) {
  const { lang, t } = useI18n();
  const label = (f: FieldDef) => localize(f.label, lang) || f.name;
  const free = fields.filter((f) => !sort.some((k) => k.field === f.name));
  const set = (i: number, k: SortKey) => onChange(sort.map((x, j) => (j === i ? k : x)));
  return (
    <Popover
      trigger="click"
      placement="bottomRight"
      title={t('sort.title')}
      content={
        <div className="sort-panel" data-testid="sort-panel">
          {sort.length === 0 && <Typography.Text type="secondary">{t('sort.none')}</Typography.Text>}
          {sort.map((k, i) => (
            <div className="sort-key" key={k.field} data-testid="sort-key">
              <Typography.Text type="secondary" className="sort-rank">
                {i + 1}
              </Typography.Text>
              <Select
                className="filter-field"
                value={k.field}
                options={[...fields.filter((f) => f.name === k.field), ...free].map((f) => ({ value: f.name, label: label(f) }))}
                onChange={(field: string) => set(i, { ...k, field })}
                data-testid="sort-field"
              />
              <Select
                className="filter-op"
                value={k.desc ? 'desc' : 'asc'}
                options={[
                  { value: 'asc', label: t('sort.asc') },
                  { value: 'desc', label: t('sort.desc') },
                ]}
                onChange={(d: string) => set(i, { ...k, desc: d === 'desc' })}
                data-testid="sort-dir"
              />
              <Button
                type="text"
                icon={<ArrowUpOutlined />}
                disabled={i === 0}
                aria-label={t('sort.up')}
                onClick={() => {
                  const next = [...sort];
                  [next[i - 1], next[i]] = [next[i], next[i - 1]];
                  onChange(next);
                }}
              />
              <Button
                type="text"
                icon={<DeleteOutlined />}
                aria-label={t('sort.remove')}
                onClick={() => onChange(sort.filter((_, j) => j !== i))}
                data-testid="sort-remove"
              />
            </div>
          ))}
          <Button
            size="small"
            icon={<PlusOutlined />}
            disabled={!free.length || sort.length >= MAX_SORT_KEYS}
            onClick={() => onChange([...sort, { field: free[0].name, desc: false }])}
            data-testid="sort-add"
          >
            {t('sort.add')}
          </Button>
          <Typography.Text type="secondary" className="filter-hint">
            {t('sort.shiftHint')}
          </Typography.Text>
        </div>
      }
    >
      <Button icon={<SortAscendingOutlined />} type={sort.length ? 'primary' : 'default'} ghost={sort.length > 0} data-testid="sort-button">
        {sort.length ? t('sort.buttonCount', { n: sort.length }) : t('sort.button')}
      </Button>
    </Popover>
  );
}
