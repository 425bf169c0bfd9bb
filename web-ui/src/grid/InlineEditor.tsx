// The editor of one grid cell (loaded when a cell is first double-clicked): the form's input for
// the field, Enter or ✓ saves, Escape or ✕ puts the cell back. Clicks inside it stay inside it.

import { useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { Button, ConfigProvider, Tooltip } from 'antd';
import { CheckOutlined, CloseOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { useApi, type EntityDef, type FieldDef } from '../api';
import { toFormValue } from '../form/fields';
import { FieldInput } from '../form/inputs';
import { useI18n } from '../i18n';
import { cellInputKind, saveCell, type CellSave } from './inlineEdit';
import type { RecordRow } from './listRequest';

export interface InlineEditorProps {
  app: string;
  entity: string;
  entities: readonly EntityDef[];
  row: RecordRow;
  field: FieldDef;
  expand: readonly string[];
  /** The editor is done: saved, refused (with the message for the cell), or cancelled (none). */
  onDone: (result: CellSave | null) => void;
}

export default function InlineEditor({ app, entity, entities, row, field, expand, onDone }: InlineEditorProps) {
  const api = useApi();
  const qc = useQueryClient();
  const { lang, t } = useI18n();
  const [value, setValue] = useState<unknown>(() => toFormValue(field, row[field.name]));
  const [saving, setSaving] = useState(false);
  const box = useRef<HTMLDivElement>(null);
  const kind = cellInputKind(field);
  const known = field.type === 'relation' && row[field.name] && typeof row[field.name] === 'object' ? (row[field.name] as RecordRow) : null;

  useEffect(() => {
    box.current?.querySelector<HTMLElement>('input:not([type="hidden"]), textarea')?.focus();
  }, []);

  const save = async () => {
    if (saving) return;
    setSaving(true);
    const result = await saveCell(api, qc, { app, entity, row, field, value, expand }, lang, t);
    setSaving(false);
    onDone(result);
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      onDone(null);
    } else if (e.key === 'Enter' && !e.shiftKey) {
      // An open dropdown takes Enter for its own choice.
      if (box.current?.querySelector('.ant-select-open, .ant-picker-focused')) return;
      e.preventDefault();
      void save();
    }
  };

  return (
    <div
      ref={box}
      className="cell-editor"
      data-testid="cell-editor"
      onClick={(e) => e.stopPropagation()}
      onDoubleClick={(e) => e.stopPropagation()}
      onKeyDown={onKeyDown}
    >
      <div className="cell-editor-input">
        <ConfigProvider componentSize="small">
          <FieldInput
          f={{ field, kind, disabled: false }}
          app={app}
          entities={entities}
          known={known}
          value={value}
          onChange={setValue}
          disabled={saving}
          />
        </ConfigProvider>
      </div>
      <Tooltip title={t('grid.edit.save')}>
        <Button
          size="small"
          type="primary"
          icon={<CheckOutlined />}
          loading={saving}
          aria-label={t('grid.edit.save')}
          onClick={() => void save()}
          data-testid="cell-save"
        />
      </Tooltip>
      <Tooltip title={t('grid.edit.cancel')}>
        <Button size="small" icon={<CloseOutlined />} aria-label={t('grid.edit.cancel')} onClick={() => onDone(null)} data-testid="cell-cancel" />
      </Tooltip>
    </div>
  );
}
