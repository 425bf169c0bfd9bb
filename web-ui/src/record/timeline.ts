// The entries of a record's timeline, as `…/timeline` answers them (oldest first, already
// merged by the server: field changes, stage moves, approvals, SLA breaches, manual runs, the
// rule runs a change started, and comments), and the text helpers of comments: a body's
// `@[user id]` mentions shown as names, and the names the picker inserted written back as ids.

import type { components } from '../api/schema';

type S = components['schemas'];
export type TimelineEntry = S['TimelineEntry'];
export type TimelinePage = S['Timeline'];
export type Comment = S['Comment'];
export type MentionedUser = S['MentionedUser'];

/** A stable key: ids are unique per kind of source (events, runs, comments). */
export function entryKey(entry: TimelineEntry): string {
  return `${entry.type}:${entry.id}`;
}

/** The rule whose action made the change (`via: rule:{name}`), if one did. */
export function viaRule(via: string | null | undefined): string | null {
  const v = via ?? '';
  return v.startsWith('rule:') ? v.slice('rule:'.length) : null;
}

/** A piece of a comment's body: plain text, or a mention of a user by id with their name. */
export type CommentPart = { text: string } | { mention: MentionedUser };

const MENTION = /@\[([0-9a-fA-F-]{36})\]/g;

/**
 * The body in pieces: each `@[id]` whose id the comment's `mentions` names becomes a mention
 * (shown with the name); an id naming no user stays plain text, as the server keeps it.
 */
export function commentParts(body: string, mentions: readonly MentionedUser[]): CommentPart[] {
  const byId = new Map(mentions.map((m) => [m.id.toLowerCase(), m]));
  const parts: CommentPart[] = [];
  let last = 0;
  for (const m of body.matchAll(MENTION)) {
    const who = byId.get(m[1].toLowerCase());
    if (!who) continue;
    const at = m.index ?? 0;
    if (at > last) parts.push({ text: body.slice(last, at) });
    parts.push({ mention: who });
    last = at + m[0].length;
  }
  if (last < body.length) parts.push({ text: body.slice(last) });
  return parts;
}

/**
 * The text of the comment box with the names the picker inserted (`@name`) written as the
 * server wants them (`@[id]`). Longer names first, so that "@Li Lei" is not taken for "@Li".
 * A name typed by hand without picking stays text.
 */
export function encodeMentions(text: string, picked: readonly MentionedUser[]): string {
  const users = [...new Map(picked.map((u) => [u.name, u])).values()].sort((a, b) => b.name.length - a.name.length);
  if (users.length === 0) return text;
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`@(${users.map((u) => escape(u.name)).join('|')})(?=$|[\\s,.;:!?，。；：！？、)）])`, 'gu');
  const idOf = new Map(users.map((u) => [u.name, u.id]));
  return text.replace(re, (_, name: string) => `@[${idOf.get(name)}]`);
}
