// What keeps a move from being made, as the server names it (`blocked_by` of `…/transitions`,
// `errors` of a 409 `transition_blocked`): a field to fill, an attachment to give, a condition
// that fails, a pending approval, a comment, or requirements on data the caller cannot see.

import type { EntityDef } from '../api';
import { localize, type Lang, type MessageKey } from '../i18n';

export type BlockerKind = 'field' | 'attachment' | 'condition' | 'approval' | 'comment' | 'hidden' | 'other';

/** Each kind of blocker in the UI. */
export const BLOCKER_KIND_LABEL: Readonly<Record<BlockerKind, MessageKey>> = {
  field: 'blocker.kind.field',
  attachment: 'blocker.kind.attachment',
  condition: 'blocker.kind.condition',
  approval: 'blocker.kind.approval',
  comment: 'blocker.kind.comment',
  hidden: 'blocker.kind.hidden',
  other: 'blocker.kind.other',
};

export interface BlockerLike {
  field: string;
  code: string;
  message: string;
  messages?: { zh?: string; en?: string } | null;
}

export interface ShownBlocker {
  kind: BlockerKind;
  /** The field to fill (kind `field`): the form can open at it. */
  field?: string;
  text: string;
}

type T = (key: MessageKey, vars?: Record<string, string | number>) => string;

export function blockerKind(b: BlockerLike): BlockerKind {
  if (b.code === 'pending_approval') return 'approval';
  if (b.code === 'hidden_requirement') return 'hidden';
  if (b.code === 'attachment_required' || b.field.startsWith('attachments.')) return 'attachment';
  if (b.field.startsWith('conditions.')) return 'condition';
  if (b.field === 'comment') return 'comment';
  if (b.code === 'required') return 'field';
  return 'other';
}

/** One blocker in the user's language: the UI's sentence where it has one, else the server's. */
export function showBlocker(b: BlockerLike, entity: EntityDef | undefined, lang: Lang, t: T): ShownBlocker {
  const kind = blockerKind(b);
  const own = b.messages ? localize(b.messages, lang) : '';
  switch (kind) {
    case 'field': {
      const def = entity?.fields?.find((f) => f.name === b.field);
      const label = def ? localize(def.label, lang) || def.name : b.field;
      return { kind, field: b.field, text: t('blocker.field', { field: label }) };
    }
    case 'approval':
      return { kind, text: t('blocker.approval') };
    case 'comment':
      return { kind, text: t('blocker.comment') };
    case 'hidden':
      return { kind, text: t('blocker.hidden') };
    default:
      return { kind, text: own || b.message || b.code };
  }
}
