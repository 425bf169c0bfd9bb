// The record form's layout: the entity's default form from the definition (`forms`,
// `form.schema.json`: sections with a label, 1–4 columns and their fields in order), else the
// generated one (every field in definition order, two columns, wide inputs across both).
// Fields a form does not place (added later, or the owner) follow in one more section; fields
// hidden from the caller are not in the definition they read, so not in any section.

import type { App, EntityDef, LocalizedText } from '../api';

export type FormDef = NonNullable<App['forms']>[number];

/** One field placed in a section: its position spans `span` of the section's columns. */
export interface Placed<F> {
  item: F;
  span: number;
}

export interface Section<F> {
  key: string;
  /** Absent for the generated form's one section; `rest` marks the section of unplaced fields. */
  label?: LocalizedText;
  rest?: boolean;
  columns: number;
  items: Placed<F>[];
}

/** The entity's form: its default one, else the first the app defines for it. */
export function entityForm(app: Pick<App, 'forms'>, entity: Pick<EntityDef, 'name'>): FormDef | undefined {
  const forms = (app.forms ?? []).filter((f) => f.entity === entity.name);
  return forms.find((f) => f.default) ?? forms[0];
}

/** The generated layout's columns. */
const GENERATED_COLUMNS = 2;

/**
 * The sections of a form over the items it may show (`name` gives an item's field name,
 * `wide` whether it takes a whole row when the form does not say).
 */
export function layoutSections<F>(
  form: FormDef | undefined,
  items: readonly F[],
  name: (item: F) => string,
  wide: (item: F) => boolean,
): Section<F>[] {
  const byName = new Map(items.map((i) => [name(i), i]));
  const free = (list: readonly F[], columns: number) =>
    list.map((item) => ({ item, span: wide(item) ? columns : 1 }));
  if (!form) return [{ key: 'all', columns: GENERATED_COLUMNS, items: free(items, GENERATED_COLUMNS) }];
  const placed = new Set<string>();
  const sections: Section<F>[] = form.sections.map((s, i) => {
    const columns = Math.min(Math.max(s.columns ?? 1, 1), 4);
    const out: Placed<F>[] = [];
    for (const it of s.fields) {
      const item = byName.get(it.field);
      if (!item || placed.has(it.field)) continue;
      placed.add(it.field);
      out.push({ item, span: Math.min(Math.max(it.span ?? 1, 1), columns) });
    }
    return { key: `s${i}`, label: s.label, columns, items: out };
  });
  const rest = items.filter((i) => !placed.has(name(i)));
  if (rest.length) sections.push({ key: 'rest', rest: true, columns: GENERATED_COLUMNS, items: free(rest, GENERATED_COLUMNS) });
  return sections;
}

/** The antd grid width (of 24) of an item spanning `span` of `columns`, from medium screens up. */
export function colWidth(columns: number, span: number): number {
  return Math.floor(24 / columns) * span;
}
