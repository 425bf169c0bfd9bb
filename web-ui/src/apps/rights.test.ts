import { describe, expect, it } from 'vitest';
import type { App } from '../api';
import { hasRight, readableEntities } from './rights';

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
});
