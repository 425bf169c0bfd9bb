// What the caller may do with an app's entities, from what the API gives: the definition as
// the caller may read it (`GET /apps/{app}`, with its roles and their permissions) and the
// caller's roles per app (`GET /me`). The server checks every request again; this only keeps
// the UI from showing what it would refuse. Mirrors `trellis_core::permissions` (is_guarded).

import type { App, Me } from '../api';

export type EntityRight = 'read' | 'create' | 'update' | 'delete';

/** Who is asking: `/me`, or only the user while `/me` is on its way. */
export interface Caller {
  user: { is_admin: boolean };
  app_roles?: Me['app_roles'];
}

type Entity = NonNullable<App['entities']>[number];
type AppLike = Pick<App, 'name' | 'roles'> & { entities?: Entity[] };

/** An app where no role has permissions is open to every user of the tenant. */
export function isGuarded(app: Pick<App, 'roles'>): boolean {
  return (app.roles ?? []).some((r) => r.permissions != null);
}

export function hasRight(app: AppLike, entity: string, caller: Caller, right: EntityRight): boolean {
  if (caller.user.is_admin || !isGuarded(app)) return true;
  const mine = new Set(caller.app_roles?.[app.name] ?? []);
  return (app.roles ?? []).some((r) => mine.has(r.name) && r.permissions?.[entity]?.[right] === true);
}

/** The entities the caller may read, in definition order. */
export function readableEntities(app: AppLike, caller: Caller): Entity[] {
  return (app.entities ?? []).filter((e) => hasRight(app, e.name, caller, 'read'));
}
