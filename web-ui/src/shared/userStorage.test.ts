import { describe, expect, it } from 'vitest';
import { clearUserStorage, userKey } from './userStorage';

describe("a user's items in this browser", () => {
  it('are keyed by the user', () => {
    expect(userKey('u1', 'draft', 'crm/deal/new')).not.toBe(userKey('u2', 'draft', 'crm/deal/new'));
    expect(userKey('u1', 'draft', 'crm/deal/new')).not.toBe(userKey('u1', 'sop', 'crm/deal/new'));
  });

  it("are removed with the user's logout, and only theirs (and items of no one)", () => {
    localStorage.setItem(userKey('u1', 'draft', 'crm/deal/r1'), '{}');
    localStorage.setItem(userKey('u1', 'sop', 'crm/deal/r1/qualify'), '[]');
    localStorage.setItem(userKey('u2', 'draft', 'crm/deal/r1'), '{}');
    // Keys of an older build that named no user.
    localStorage.setItem('trellis.draft.crm/deal/r1', '{}');
    localStorage.setItem('trellis.sop.crm/deal/r1/qualify', '[]');
    localStorage.setItem('trellis.lang', 'en');
    clearUserStorage('u1');
    const left = Object.keys(localStorage).sort();
    expect(left).toEqual([userKey('u2', 'draft', 'crm/deal/r1'), 'trellis.lang'].sort());
  });
});
