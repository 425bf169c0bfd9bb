// Times the record page shows: how long ago or how soon (`Intl.RelativeTimeFormat`), how long a
// record stayed in a stage, and where a stage's SLA stands.

import { localeTag, type Lang, type MessageKey } from '../i18n';

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400],
  ['hour', 3_600],
  ['minute', 60],
];

/** "in 3 hours", "2 days ago", in the user's language. */
export function formatRelative(iso: string, lang: Lang, now: number = Date.now()): string {
  const at = new Date(iso).getTime();
  if (Number.isNaN(at)) return iso;
  const seconds = Math.round((at - now) / 1000);
  const rtf = new Intl.RelativeTimeFormat(localeTag(lang), { numeric: 'auto' });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return rtf.format(Math.round(seconds / size), unit);
  }
  return rtf.format(seconds, 'second');
}

/** A duration in its largest whole unit ("3 days", "5 小时"). */
export function formatDuration(seconds: number, t: T): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 86_400) return t('duration.days', { n: Math.floor(s / 86_400) });
  if (s >= 3_600) return t('duration.hours', { n: Math.floor(s / 3_600) });
  if (s >= 60) return t('duration.minutes', { n: Math.floor(s / 60) });
  return t('duration.seconds', { n: s });
}

export type SlaState = 'none' | 'on_track' | 'due_soon' | 'breached';

/** Each SLA state in the UI. */
export const SLA_LABEL: Readonly<Record<SlaState, MessageKey>> = {
  none: 'record.sla.none',
  on_track: 'record.sla.on_track',
  due_soon: 'record.sla.due_soon',
  breached: 'record.sla.breached',
};

/** Due within this long counts as soon. */
const SOON_SECONDS = 24 * 3_600;

/** Where the stage's SLA stands, from the record's `stage_due_at` and `stage_breached_at`. */
export function slaState(due: unknown, breached: unknown, now: number = Date.now()): SlaState {
  if (typeof breached === 'string' && breached) return 'breached';
  if (typeof due !== 'string' || !due) return 'none';
  const at = new Date(due).getTime();
  if (Number.isNaN(at)) return 'none';
  if (at <= now) return 'breached';
  return at - now <= SOON_SECONDS * 1000 ? 'due_soon' : 'on_track';
}
