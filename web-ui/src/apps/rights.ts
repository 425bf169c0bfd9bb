// What the caller may do with an app's entities, as `GET /me` says it (`apps`: per entity the
// rights and the rows they reach, hidden and read-only fields, the transitions they may make),
// decided there by the code that checks every request. Only while `/me` has not said (it is on
// its way, or the app is newer than it) is it worked out from the definition as the caller may
// read it (`GET /apps/{app}`, its roles and their permissions) and `/me`'s `app_roles`, as
// `trellis_core::permissions` does. The server checks every request again; this only keeps the
// UI from offering what it would refuse. A right that reaches only some rows (a row scope) is
// decided per record by the record's own answer (`rights=true`).

import type { App, Me } from '../api';

export type EntityRight = 'read' | 'create' | 'update' | 'delete' | 'export';

/** What `/me` says of one entity. */
export type EntityAccess = Me['apps'][string]['entities'][string];

/** Who is asking: `/me`, or only the user while `/me` is on its way. */
export interface Caller {
  user: { is_admin: boolean; id?: string };
  app_roles?: Me['app_roles'];
  /** What the caller may do in each app (`/me`'s `apps`). */
  apps?: Me['apps'];
}

/** What `/me` says the caller may do with an entity (undefined: it has not said). */
export function entityAccess(app: Pick<App, 'name'>, entity: string, caller: Caller): EntityAccess | undefined {
  return caller.apps?.[app.name]?.entities?.[entity];
}

type Entity = NonNullable<App['entities']>[number];
type AppLike = Pick<App, 'name' | 'roles'> & { entities?: Entity[] };

/** An app where no role has permissions is open to every user of the tenant. */
export function isGuarded(app: Pick<App, 'roles'>): boolean {
  return (app.roles ?? []).some((r) => r.permissions != null);
}

/** Whether the caller has a right in an entity (on all its rows or on some). */
export function hasRight(app: AppLike, entity: string, caller: Caller, right: EntityRight): boolean {
  const said = entityAccess(app, entity, caller);
  if (said) return said.rights[right] !== 'none';
  return fromDefinition(app, entity, caller, right);
}

/** A right worked out from the definition's roles (while `/me` has not said). */
function fromDefinition(app: AppLike, entity: string, caller: Caller, right: EntityRight): boolean {
  if (caller.user.is_admin || !isGuarded(app)) return true;
  const mine = new Set(caller.app_roles?.[app.name] ?? []);
  return (app.roles ?? []).some((r) => mine.has(r.name) && r.permissions?.[entity]?.[right] === true);
}

/** The entities the caller may read, in definition order. */
export function readableEntities(app: AppLike, caller: Caller): Entity[] {
  return (app.entities ?? []).filter((e) => hasRight(app, e.name, caller, 'read'));
}

/**
 * The fields of an entity the caller sees but may not change, `owner` included when it is one
 * of them: `/me`'s `read_only`; until it has said, as `EntityGrant::declared` works it out (a
 * field is writable when one of the caller's roles that creates or updates the entity does not
 * list it in its `fields`). Fields hidden from the caller are absent from the definition the
 * API answers (and listed in `/me`'s `hidden`).
 */
export function readOnlyFields(app: AppLike, entity: string, caller: Caller): Set<string> {
  const said = entityAccess(app, entity, caller);
  if (said) return new Set(said.read_only);
  const out = new Set<string>();
  if (caller.user.is_admin || !isGuarded(app)) return out;
  const mine = new Set(caller.app_roles?.[app.name] ?? []);
  const writers = (app.roles ?? [])
    .filter((r) => mine.has(r.name))
    .map((r) => r.permissions?.[entity])
    .filter((p) => p && (p.create === true || p.update === true));
  const names = [...(app.entities ?? []).find((e) => e.name === entity)?.fields?.map((f) => f.name) ?? [], 'owner'];
  for (const name of names) {
    if (!writers.some((p) => !(p?.fields && name in p.fields))) out.add(name);
  }
  return out;
}

/**
 * Whether the caller may run a rule by hand (and read its runs): administrators, everyone in an
 * app without permissions, else a role of theirs with `run_rules: true` or naming the rule.
 * (`/me` does not say it; the definition's roles do.)
 */
export function mayRunRule(app: AppLike, rule: string, caller: Caller): boolean {
  if (caller.user.is_admin || !isGuarded(app)) return true;
  const mine = new Set(caller.app_roles?.[app.name] ?? []);
  return (app.roles ?? []).some(
    (r) => mine.has(r.name) && (r.run_rules === true || (Array.isArray(r.run_rules) && r.run_rules.includes(rule))),
  );
}
