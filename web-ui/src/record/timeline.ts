// The entries of a record's timeline. Each source (today the history of `…/history`; comments
// come next) turns its items into entries of its own `type`, and `mergeEntries` orders them by
// time: a new source is one more member of `TimelineEntry` and one more renderer in
// `TimelineEntryView`, nothing else changes.

import type { HistoryEvent } from './queries';

/** What every entry has: a stable key, when, and who (none: the system). */
interface EntryBase {
  key: string;
  at: string;
  actor: string | null;
}

/** A history event: a change, a stage move, an approval, an SLA breach, a manual run. */
export interface EventEntry extends EntryBase {
  type: 'event';
  event: HistoryEvent;
}

export type TimelineEntry = EventEntry;

export function fromHistory(events: readonly HistoryEvent[]): EventEntry[] {
  return events.map((event) => ({ type: 'event', key: `event:${event.id}`, at: event.at, actor: event.actor, event }));
}

/** Entries of every source, oldest first (ties keep their source's order). */
export function mergeEntries(...sources: readonly (readonly TimelineEntry[])[]): TimelineEntry[] {
  return sources
    .flat()
    .map((e, i) => ({ e, i, t: new Date(e.at).getTime() }))
    .sort((a, b) => a.t - b.t || a.i - b.i)
    .map((x) => x.e);
}

/** A field change of an `updated` event: `{field: {from, to}}`. */
export interface FieldChange {
  field: string;
  from: unknown;
  to: unknown;
}

export function changesOf(event: HistoryEvent): FieldChange[] {
  const changes = event.changes;
  if (!changes || typeof changes !== 'object' || Array.isArray(changes)) return [];
  return Object.entries(changes as Record<string, unknown>).map(([field, c]) => {
    const v = (c && typeof c === 'object' ? c : {}) as { from?: unknown; to?: unknown };
    return { field, from: v.from ?? null, to: v.to ?? null };
  });
}

/** A text member of an event's data, if it has one. */
export function text(event: HistoryEvent, key: string): string | null {
  const v = event[key];
  return typeof v === 'string' && v !== '' ? v : null;
}

/** The rule whose action made the change (`via: rule:{name}`), if one did. */
export function viaRule(event: HistoryEvent): string | null {
  const via = event.via ?? '';
  return via.startsWith('rule:') ? via.slice('rule:'.length) : null;
}
