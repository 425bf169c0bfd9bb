// The record's fields in the entity's order (fields hidden from the caller are not in the
// definition they read), with the grid's type-aware cells; attachments as download links.

import { Descriptions } from 'antd';
import type { EntityDef } from '../api';
import { renderCell, type CellContext } from '../grid/cells';
import type { RecordRow } from '../grid/listRequest';
import { formatDateTime, localize, useI18n } from '../i18n';
import { FileLink, type FileRef } from '../shared/FileLink';

function files(value: unknown): FileRef[] {
  if (!Array.isArray(value)) return [];
  return value
    .map((v) => (typeof v === 'string' ? { id: v } : (v as FileRef)))
    .filter((f) => f && typeof f.id === 'string');
}

export function FieldsCard({
  entity,
  record,
  cells,
  userName,
}: {
  entity: EntityDef;
  record: RecordRow;
  cells: CellContext;
  userName: (id: string) => string;
}) {
  const { lang, t } = useI18n();
  const fields = entity.fields ?? [];
  return (
    <Descriptions
      bordered
      size="small"
      column={{ xs: 1, sm: 1, md: 1, lg: 1, xl: 1, xxl: 2 }}
      className="record-fields"
      data-testid="record-fields"
      items={[
        ...fields.map((f) => ({
          key: f.name,
          label: localize(f.label, lang) || f.name,
          span: f.type === 'long_text' || f.type === 'attachment' || f.type === 'json' ? ('filled' as const) : undefined,
          children: (
            <span data-testid={`value-${f.name}`}>
              {f.type === 'attachment' && files(record[f.name]).length > 0 ? (
                <span className="record-files">
                  {files(record[f.name]).map((file) => (
                    <FileLink key={file.id} file={file} />
                  ))}
                </span>
              ) : f.type === 'long_text' && typeof record[f.name] === 'string' ? (
                <span className="record-long-text">{String(record[f.name])}</span>
              ) : (
                renderCell(f, record[f.name], cells)
              )}
            </span>
          ),
        })),
        ...(typeof record.owner === 'string'
          ? [{ key: 'owner', label: t('field.owner'), children: <span data-testid="value-owner">{userName(record.owner)}</span> }]
          : []),
        ...(['created_at', 'updated_at'] as const)
          .filter((k) => typeof record[k] === 'string')
          .map((k) => ({ key: k, label: t(`field.${k}`), children: formatDateTime(String(record[k]), lang) })),
      ]}
    />
  );
}
