// What this browser keeps for one user in localStorage (unsaved form drafts, ticked SOP
// steps): under a key naming the user, so whoever logs in next on the same browser never reads
// it, and removed when that user logs out.

/** Every key of one user starts with this. */
const USER_PREFIX = 'trellis.u.';
/** Keys written before they named their user (read by nobody now). */
const UNOWNED_PREFIXES = ['trellis.draft.', 'trellis.sop.'];

export type UserItem = 'draft' | 'sop';

/** The key of one item of a user's: `trellis.u.<user>.<kind>.<rest>`. */
export function userKey(userId: string, kind: UserItem, rest: string): string {
  return `${USER_PREFIX}${encodeURIComponent(userId)}.${kind}.${rest}`;
}

/** Removes everything this browser keeps for the user, and the items of no one. */
export function clearUserStorage(userId: string | null | undefined): void {
  try {
    const mine = userId ? `${USER_PREFIX}${encodeURIComponent(userId)}.` : null;
    const doomed: string[] = [];
    for (let i = 0; i < localStorage.length; i++) {
      const k = localStorage.key(i);
      if (k && ((mine && k.startsWith(mine)) || UNOWNED_PREFIXES.some((p) => k.startsWith(p)))) doomed.push(k);
    }
    for (const k of doomed) localStorage.removeItem(k);
  } catch {
    /* storage disabled: nothing was kept */
  }
}
