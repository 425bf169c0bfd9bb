// The system fields a grid offers beside the entity's own: who owns and who created a record,
// when it was created and last changed, and its stage (an entity with a pipeline). The list API
// answers them with every record and sorts, filters and groups by them as by fields
// (`trellis_core::compile::SYSTEM_COLUMNS`), and views may name them, so the grid shows them as
// columns (chosen in the columns panel) and offers them to the filter, sort and group pickers.
// They are never edited in the grid: the owner changes in the form, the stage by a move.

import type { EntityDef, FieldDef } from '../api';
import { translate, type MessageKey } from '../i18n';

export const SYSTEM_FIELD_NAMES = ['owner', 'created_by', 'created_at', 'updated_at', 'stage'] as const;
export type SystemField = (typeof SYSTEM_FIELD_NAMES)[number];

const LABEL: Readonly<Record<SystemField, MessageKey>> = {
  owner: 'field.owner',
  created_by: 'field.created_by',
  created_at: 'field.created_at',
  updated_at: 'field.updated_at',
  stage: 'field.stage',
};

const label = (name: SystemField) => ({ zh: translate('zh', LABEL[name]), en: translate('en', LABEL[name]) });

export function isSystemField(name: string): name is SystemField {
  return (SYSTEM_FIELD_NAMES as readonly string[]).includes(name);
}

/** The entity's system fields as the grid's fields: the stage only with a pipeline (its stages as options). */
export function systemFields(entity: Pick<EntityDef, 'pipeline'>): FieldDef[] {
  const out: FieldDef[] = [
    { name: 'owner', label: label('owner'), type: 'user' },
    { name: 'created_by', label: label('created_by'), type: 'user' },
    { name: 'created_at', label: label('created_at'), type: 'datetime' },
    { name: 'updated_at', label: label('updated_at'), type: 'datetime' },
  ];
  const stages = entity.pipeline?.stages ?? [];
  if (stages.length) {
    out.push({
      name: 'stage',
      label: label('stage'),
      type: 'single_select',
      options: stages.map((s) => ({ value: s.key, label: s.label })),
    });
  }
  return out;
}

/**
 * The entity as the grid reads it: its fields, then the system fields it does not define itself
 * (a field of the entity never has a system field's name; the check keeps that true here).
 */
export function withSystemFields(entity: EntityDef): EntityDef {
  const own = entity.fields ?? [];
  const names = new Set(own.map((f) => f.name));
  return { ...entity, fields: [...own, ...systemFields(entity).filter((f) => !names.has(f.name))] };
}
