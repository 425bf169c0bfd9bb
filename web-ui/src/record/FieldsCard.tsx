// The record's fields laid out as the entity's form places them (its sections and columns;
// without a form, in the entity's order), fields hidden from the caller being absent from the
// definition they read; the grid's type-aware cells, attachments as download links. Every
// field is shown, whatever its `visible_if` (a value the form hides is still the record's).

import { Descriptions } from 'antd';
import type { EntityDef, FieldDef } from '../api';
import { layoutSections, type FormDef } from '../form/layout';
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

const isWideType = (f: FieldDef) => f.type === 'long_text' || f.type === 'attachment' || f.type === 'json';

export function FieldsCard({
  entity,
  form,
  record,
  cells,
  userName,
}: {
  entity: EntityDef;
  form?: FormDef;
  record: RecordRow;
  cells: CellContext;
  userName: (id: string) => string;
}) {
  const { lang, t } = useI18n();
  const value = (f: FieldDef) => (
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
  );
  const system = [
    ...(typeof record.owner === 'string'
      ? [{ key: 'owner', label: t('field.owner'), children: <span data-testid="value-owner">{userName(record.owner)}</span> }]
      : []),
    ...(['created_at', 'updated_at'] as const)
      .filter((k) => typeof record[k] === 'string')
      .map((k) => ({ key: k, label: t(`field.${k}`), children: formatDateTime(String(record[k]), lang) })),
  ];
  if (!form) {
    return (
      <Descriptions
        bordered
        size="small"
        column={{ xs: 1, sm: 1, md: 1, lg: 1, xl: 1, xxl: 2 }}
        className="record-fields"
        data-testid="record-fields"
        items={[
          ...(entity.fields ?? []).map((f) => ({
            key: f.name,
            label: localize(f.label, lang) || f.name,
            span: isWideType(f) ? ('filled' as const) : undefined,
            children: value(f),
          })),
          ...system,
        ]}
      />
    );
  }
  const sections = layoutSections(form, entity.fields ?? [], (f) => f.name, isWideType);
  return (
    <div className="record-fields" data-testid="record-fields">
      {sections.map((s, i) => (
        <Descriptions
          key={s.key}
          bordered
          size="small"
          className="record-section"
          data-testid={`record-section-${s.key}`}
          title={s.rest ? t('form.otherSection') : s.label ? localize(s.label, lang) : undefined}
          column={{ xs: 1, sm: 1, md: 1, lg: s.columns, xl: s.columns, xxl: s.columns }}
          items={[
            ...s.items.map(({ item: f, span }) => ({
              key: f.name,
              label: localize(f.label, lang) || f.name,
              span,
              children: value(f),
            })),
            ...(i === sections.length - 1 ? system : []),
          ]}
        />
      ))}
    </div>
  );
}
