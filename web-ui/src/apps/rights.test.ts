import { describe, expect, it } from 'vitest';
import type { App } from '../api';
import { hasRight, readableEntities, readOnlyFields } from './rights';

const e = (name: string) => ({ name, label: { zh: name, en: name } });
const app: Pick<App, 'name' | 'entities' | 'roles'> = {
  name: 'crm',
  entities: [e('deal'), e('customer'), e('audit')],
  roles: [
    { name: 'sales', label: { zh: '销售', en: 'Sales' }, permissions: { deal: { read: true, create: true }, customer: { read: true } } },
    { name: 'viewer', label: { zh: '只读', en: 'Viewer' }, permissions: { deal: { read: true } } },
  ],
};
const member = (roles: string[]) => ({ user: { is_admin: false }, app_roles: { crm: roles } });

describe('rights', () => {
  it('a member reads and creates only what their roles give', () => {
    expect(readableEntities(app, member(['viewer'])).map((x) => x.name)).toEqual(['deal']);
    expect(readableEntities(app, member(['sales'])).map((x) => x.name)).toEqual(['deal', 'customer']);
    expect(hasRight(app, 'deal', member(['viewer']), 'create')).toBe(false);
    expect(hasRight(app, 'deal', member(['viewer', 'sales']), 'create')).toBe(true);
    expect(readableEntities(app, member([]))).toEqual([]);
  });

  it('an admin, and everyone in an app without permissions, may do everything', () => {
    expect(readableEntities(app, { user: { is_admin: true } })).toHaveLength(3);
    const open = { ...app, roles: [{ name: 'r', label: { zh: 'r', en: 'r' } }] };
    expect(hasRight(open, 'audit', member([]), 'create')).toBe(true);
  });

  it('a field is read-only unless a role of the caller that writes the entity leaves it free', () => {
    const fields = [
      { name: 'title', label: { zh: 't', en: 't' }, type: 'text' as const },
      { name: 'region', label: { zh: 'r', en: 'r' }, type: 'text' as const },
      { name: 'margin', label: { zh: 'm', en: 'm' }, type: 'decimal' as const },
    ];
    const crm: Parameters<typeof readOnlyFields>[0] = {
      name: 'crm',
      entities: [{ ...e('deal'), fields }],
      roles: [
        { name: 'rep', label: { zh: 'r', en: 'r' }, permissions: { deal: { read: true, update: true, fields: { region: 'read_only', owner: 'read_only' } } } },
        { name: 'lead', label: { zh: 'l', en: 'l' }, permissions: { deal: { read: true, create: true, fields: { margin: 'read_only' } } } },
        { name: 'viewer', label: { zh: 'v', en: 'v' }, permissions: { deal: { read: true } } },
      ],
    };
    expect([...readOnlyFields(crm, 'deal', member(['rep']))].sort()).toEqual(['owner', 'region']);
    expect([...readOnlyFields(crm, 'deal', member(['rep', 'lead']))]).toEqual([]);
    expect([...readOnlyFields(crm, 'deal', member(['viewer']))].sort()).toEqual(['margin', 'owner', 'region', 'title']);
    expect(readOnlyFields(crm, 'deal', { user: { is_admin: true } }).size).toBe(0);
  });

  it("takes what /me says over the definition's roles, and the definition only where /me is silent", () => {
    const rights = (over: Partial<Record<'create' | 'read' | 'update' | 'delete' | 'export' | 'transition', string>>) => ({
      create: 'none',
      read: 'all',
      update: 'none',
      delete: 'none',
      export: 'none',
      transition: 'none',
      ...over,
    });
    // The definition gives the viewer no create; the server (its row scope) says she creates
    // her own, reads only some deals and may not change the title.
    const caller = {
      ...member(['viewer']),
      apps: {
        crm: {
          entities: {
            deal: { rights: rights({ create: 'scoped', read: 'scoped', update: 'scoped' }), hidden: ['margin'], read_only: ['title'], transitions: [] },
            audit: { rights: rights({ read: 'none' }), hidden: [], read_only: [], transitions: [] },
          },
        },
      },
    } as never;
    expect(hasRight(app, 'deal', caller, 'create')).toBe(true);
    expect(hasRight(app, 'deal', caller, 'update')).toBe(true);
    expect(hasRight(app, 'deal', caller, 'delete')).toBe(false);
    expect([...readOnlyFields(app, 'deal', caller)]).toEqual(['title']);
    // customer: /me says nothing of it (an entity newer than /me): the definition decides.
    expect(readableEntities(app, caller).map((x) => x.name)).toEqual(['deal']);
    // Even an administrator is what /me says once it has said.
    expect(hasRight(app, 'audit', { user: { is_admin: true }, apps: (caller as { apps: unknown }).apps } as never, 'read')).toBe(false);
  });
});
