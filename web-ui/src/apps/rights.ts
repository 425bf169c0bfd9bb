// What the caller may do with an app's entities, from what the API gives: the definition as
// the caller may read it (`GET /apps/{app}`, with its roles and their permissions) and the
// caller's roles per app (`GET /me`). The server checks every request again; this only keeps
// the UI from showing what it would refuse. Mirrors `trellis_core::permissions` (is_guarded).

import type { App, Me } from '../api';

export type EntityRight = 'read' | 'create' | 'update' | 'delete';

/** Who is asking: `/me`, or only the user while `/me` is on its way. */
export interface Caller {
  user: { is_admin: boolean; id?: string };
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

/**
 * The fields of an entity the caller sees but may not change, `owner` included when it is one
 * of them. Mirrors `EntityGrant::declared`: a field is writable when one of the caller's roles
 * that creates or updates the entity does not list it in its `fields` (`hidden` / `read_only`).
 * Fields hidden from the caller are already absent from the definition the API answers.
 */
export function readOnlyFields(app: AppLike, entity: string, caller: Caller): Set<string> {
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
 */
export function mayRunRule(app: AppLike, rule: string, caller: Caller): boolean {
  if (caller.user.is_admin || !isGuarded(app)) return true;
  const mine = new Set(caller.app_roles?.[app.name] ?? []);
  return (app.roles ?? []).some(
    (r) => mine.has(r.name) && (r.run_rules === true || (Array.isArray(r.run_rules) && r.run_rules.includes(rule))),
  );
}
