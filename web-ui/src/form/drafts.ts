// Unsaved forms kept in localStorage, so a reload (or a closed tab) loses nothing: one draft
// per user, app, entity and record (`new` for a record being created), holding the changed
// values only, cleared on save or cancel, and with the user's other items on logout
// (`shared/userStorage.ts`): another user of the browser never sees them.

import { userKey } from '../shared/userStorage';
import type { FormValues } from './fields';

export interface Draft {
  /** The changed values (form values, JSON). */
  values: FormValues;
  /** When it was last written (ms since the epoch). */
  savedAt: number;
}

export function draftKey(userId: string, app: string, entity: string, id: string | null): string {
  return userKey(userId, 'draft', `${app}/${entity}/${id ?? 'new'}`);
}

export const draftStore = {
  load(key: string): Draft | null {
    try {
      const raw = localStorage.getItem(key);
      if (!raw) return null;
      const d = JSON.parse(raw) as Partial<Draft>;
      if (!d || typeof d !== 'object' || typeof d.values !== 'object' || d.values === null || Array.isArray(d.values)) {
        return null;
      }
      return { values: d.values, savedAt: typeof d.savedAt === 'number' ? d.savedAt : 0 };
    } catch {
      return null;
    }
  },
  /** Keeps the changes; none at all removes the draft. */
  save(key: string, values: FormValues, now = Date.now()): void {
    try {
      if (Object.keys(values).length === 0) localStorage.removeItem(key);
      else localStorage.setItem(key, JSON.stringify({ values, savedAt: now }));
    } catch {
      /* storage full or disabled: the form still works, without the safety net */
    }
  },
  clear(key: string): void {
    try {
      localStorage.removeItem(key);
    } catch {
      /* ignore */
    }
  },
};
