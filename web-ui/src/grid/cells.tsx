// A cell of the grid (and a value of the record page), by the field's type.

import type { ReactNode } from 'react';
import { Avatar, Tag, Tooltip, Typography } from 'antd';
import { CheckOutlined, MinusOutlined, PaperClipOutlined } from '@ant-design/icons';
import { Link } from 'react-router';
import type { EntityDef, FieldDef } from '../api';
import type { Person } from '../api/queries/users';
import {
  formatCurrency,
  formatDate,
  formatDateTime,
  formatNumber,
  formatPercent,
  localize,
  type Lang,
  type MessageKey,
} from '../i18n';

export interface CellContext {
  lang: Lang;
  t: (key: MessageKey) => string;
  app: string;
  /** The app's entities, for a relation's target and its title field. */
  entities: readonly EntityDef[];
  /** Entities the caller may read (all when absent): a relation to another is its id, not a link. */
  readable?: ReadonlySet<string>;
  /**
   * The tenant's users by id (`GET /users`, asked once for the whole grid, never per row): a
   * user cell shows the name. Without it, or for an unknown id, the cell shows the id.
   */
  people?: ReadonlyMap<string, Person>;
}

const EMPTY = <span className="cell-empty">—</span>;

/** antd's preset colours pass as they are; anything else must be a CSS colour. */
function tagColor(color: string | undefined): string | undefined {
  return color || undefined;
}

function optionTag(field: FieldDef, value: string, lang: Lang): ReactNode {
  const option = field.options?.find((o) => o.value === value);
  return (
    <Tag key={value} color={tagColor(option?.color)} className="cell-tag" data-value={value}>
      {option ? localize(option.label, lang) || value : value}
    </Tag>
  );
}

function asNumber(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
  return null;
}

/** A related record's title: its title field, else its id. */
export function relationTitle(target: EntityDef | undefined, record: Record<string, unknown>, lang: Lang): string {
  const tf = target?.title_field;
  const title = tf ? record[tf] : undefined;
  if (typeof title === 'string' && title !== '') return title;
  if (title && typeof title === 'object' && ('zh' in title || 'en' in title)) {
    return localize(title as { zh?: string; en?: string }, lang);
  }
  if (typeof title === 'number') return String(title);
  return String(record.id ?? '');
}

/** The first letter of a name (a whole character, so a surrogate pair stays one), upper-cased. */
function initial(name: string): string {
  const first = Array.from(name.trim())[0] ?? '?';
  return first.toUpperCase();
}

export function renderCell(field: FieldDef, value: unknown, ctx: CellContext): ReactNode {
  const { lang, t } = ctx;
  if (value === null || value === undefined || value === '') return EMPTY;
  switch (field.type) {
    case 'integer':
    case 'decimal': {
      const n = asNumber(value);
      return n === null ? String(value) : formatNumber(n, lang, field.type === 'decimal' ? (field.scale ?? 2) : undefined);
    }
    case 'percent': {
      const n = asNumber(value);
      return n === null ? String(value) : formatPercent(n, lang, field.scale ?? 2);
    }
    case 'currency': {
      const v = value as { amount?: unknown; currency?: string };
      const n = asNumber(typeof value === 'object' ? v.amount : value);
      const code = (typeof value === 'object' ? v.currency : undefined) ?? field.currency ?? '';
      if (n === null) return EMPTY;
      return code ? formatCurrency(n, code, lang, field.scale ?? 2) : formatNumber(n, lang, field.scale ?? 2);
    }
    case 'boolean':
      return value ? (
        <CheckOutlined className="cell-bool cell-bool-yes" aria-label={t('value.yes')} role="img" />
      ) : (
        <MinusOutlined className="cell-bool cell-bool-no" aria-label={t('value.no')} role="img" />
      );
    case 'date':
      return typeof value === 'string' ? formatDate(value, lang) : String(value);
    case 'datetime':
      return typeof value === 'string' ? formatDateTime(value, lang) : String(value);
    case 'single_select':
      return optionTag(field, String(value), lang);
    case 'multi_select':
      return Array.isArray(value) && value.length ? (
        <span className="cell-tags">{value.map((v) => optionTag(field, String(v), lang))}</span>
      ) : (
        EMPTY
      );
    case 'relation': {
      const target = ctx.entities.find((e) => e.name === field.target);
      // Not expanded: the id; expanded: the related record (null when the caller may not read it).
      const record = typeof value === 'object' ? (value as Record<string, unknown>) : { id: String(value) };
      const id = String(record.id ?? '');
      if (!id) return EMPTY;
      if (ctx.readable && !ctx.readable.has(field.target ?? '')) {
        return <span className="cell-mono">{id}</span>;
      }
      return (
        <Link
          to={`/apps/${ctx.app}/${field.target}/${encodeURIComponent(id)}`}
          onClick={(e) => e.stopPropagation()}
          className="cell-link"
          data-relation-id={id}
        >
          {relationTitle(target, record, lang)}
        </Link>
      );
    }
    case 'user': {
      const id = String(value);
      const person = ctx.people?.get(id);
      if (person) {
        return (
          <Tooltip title={person.email}>
            <span className="cell-user" data-user-id={id}>
              <Avatar size={20} className="cell-avatar">
                {initial(person.name)}
              </Avatar>
              <span className="cell-user-name">{person.name}</span>
            </span>
          </Tooltip>
        );
      }
      return (
        <Tooltip title={id}>
          <span className="cell-user" data-user-id={id}>
            <Avatar size={20} className="cell-avatar">
              {initial(id)}
            </Avatar>
            <span className="cell-user-id">{id.length > 10 ? `${id.slice(0, 8)}…` : id}</span>
          </span>
        </Tooltip>
      );
    }
    case 'email':
      return (
        <a href={`mailto:${String(value)}`} onClick={(e) => e.stopPropagation()}>
          {String(value)}
        </a>
      );
    case 'url':
      return (
        <a href={String(value)} target="_blank" rel="noreferrer" onClick={(e) => e.stopPropagation()}>
          {String(value)}
        </a>
      );
    case 'phone':
      return (
        <a href={`tel:${String(value)}`} onClick={(e) => e.stopPropagation()}>
          {String(value)}
        </a>
      );
    case 'attachment': {
      const n = Array.isArray(value) ? value.length : 1;
      return (
        <span className="cell-files">
          <PaperClipOutlined /> {formatNumber(n, lang)}
        </span>
      );
    }
    case 'json':
      return (
        <Typography.Text code ellipsis>
          {JSON.stringify(value)}
        </Typography.Text>
      );
    case 'auto_number':
      return <span className="cell-mono">{String(value)}</span>;
    default:
      return String(value);
  }
}

/** Right-aligned types. */
export function isNumeric(field: Pick<FieldDef, 'type'>): boolean {
  return ['integer', 'decimal', 'percent', 'currency'].includes(field.type);
}

/** Whether the server sorts on the field (JSON-stored types are not sortable). */
export function isSortable(field: Pick<FieldDef, 'type'>): boolean {
  return !['multi_select', 'json', 'attachment'].includes(field.type);
}

/** A column's starting width in pixels, by type. */
export function columnWidth(field: Pick<FieldDef, 'type'>): number {
  switch (field.type) {
    case 'boolean':
      return 90;
    case 'integer':
    case 'percent':
    case 'date':
      return 130;
    case 'decimal':
    case 'currency':
    case 'datetime':
    case 'user':
    case 'single_select':
      return 170;
    case 'long_text':
    case 'multi_select':
    case 'json':
      return 260;
    default:
      return 200;
  }
}
