//! Permissions at request time: the caller's roles in an app, compiled once per app version and
//! role set into an [`Access`] per entity (rights, hidden and read-only fields, the entity as the
//! caller sees it), and the row scope of a right as one [`Filter`] with the caller's id and teams.
//! Every read and write path asks here, so none can reach rows or fields another path hides.

pub mod admin;
pub mod auth;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trellis_core::error::FieldCode;

use parking_lot::Mutex;
use serde_json::Value;
use trellis_core::def::AppDef;
use trellis_core::permissions::{EntityGrant, NO_ID, Reach, Right, RowScope, is_guarded, substitute};
use trellis_core::query::{Filter, Op, parse_filter};
use trellis_core::{CompiledEntity, Error, FieldError, Val};
use trellis_store::records::{self, ListQuery, Row};
use trellis_store::{directory, teams};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

/// What the caller may do with one entity.
#[derive(Clone)]
pub struct Access {
    pub grant: Arc<EntityGrant>,
    /// The entity with every column.
    pub entity: Arc<CompiledEntity>,
    /// The entity without the caller's hidden fields: reads, filters, sorts and searches use it,
    /// so a hidden field is an unknown field.
    pub view: Arc<CompiledEntity>,
}

/// (app id, version, entity, sorted roles).
type Key = (String, i64, String, String);
/// Most entries a cache of [`Caches`] keeps.
const CACHE_MAX: usize = 10_000;

/// What permissions read on every request, kept by one node: compiled grants, team trees and
/// role memberships. Each [`Engine`] has its own, made with it, so two nodes in one process
/// (the scale-out tests) or two engines on two databases share nothing but what a database
/// gives them: a node forgets what it changes itself and sees other nodes' changes when its
/// entries expire ([`Caches::new`]).
pub struct Caches {
    /// Compiled grants by (app id, version, entity, sorted roles): an app version never
    /// changes, so these never expire.
    access: Mutex<HashMap<Key, Access>>,
    /// A tenant's teams and memberships, by tenant id (a team scope is on every list of a
    /// scoped user; the tree changes rarely).
    teams: TtlCache<String, TeamTree>,
    /// The roles a user holds in an app, by (app id, user) (read on every request of a user of
    /// a guarded app, and change rarely).
    roles: TtlCache<(String, String), Vec<String>>,
}

/// How long a node keeps the teams and roles it read before reading them again: the longest
/// another node's change to them takes to show here.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(2);

impl Caches {
    /// Empty caches keeping teams and roles for `ttl`.
    pub fn new(ttl: Duration) -> Caches {
        Caches {
            access: Mutex::default(),
            teams: TtlCache::new(ttl),
            roles: TtlCache::new(ttl),
        }
    }
}

impl Default for Caches {
    fn default() -> Caches {
        Caches::new(DEFAULT_CACHE_TTL)
    }
}

impl Access {
    /// Every right, every field.
    pub fn full(entity: &Arc<CompiledEntity>) -> Access {
        Access {
            grant: Arc::new(EntityGrant::full()),
            entity: entity.clone(),
            view: entity.clone(),
        }
    }

    pub fn is_full(&self) -> bool {
        self.grant.full
    }

    /// Refuses a right the caller does not have (403).
    pub fn require(&self, right: Right) -> Result<&Reach, Error> {
        self.grant.reach(right).ok_or_else(|| {
            Error::permission_denied(format!(
                "you may not {} '{}' records",
                right.as_str(),
                self.entity.name()
            ))
        })
    }

    /// Checks the fields of a write body: a hidden field is unknown (422, as if it did not
    /// exist); a read-only field whose value changes answers 403 naming it.
    pub fn check_body(&self, body: &Value, current: Option<&Row>) -> Result<(), Error> {
        if self.grant.full {
            return Ok(());
        }
        let Some(obj) = body.as_object() else { return Ok(()) };
        let mut unknown = Vec::new();
        let mut denied = Vec::new();
        for (k, v) in obj {
            if self.grant.hidden.contains(k) {
                unknown.push(FieldError::new(
                    k.clone(),
                    FieldCode::UnknownField,
                    format!("'{k}' is not a field of '{}'", self.entity.name()),
                ));
            } else if self.grant.read_only.contains(k) {
                let same = current.is_some_and(|r| {
                    let f = self.entity.column(k);
                    f.zip(r.get(&self.entity, k))
                        .is_some_and(|(f, cur)| cur.to_json(f) == *v)
                });
                if !same {
                    denied.push(FieldError::new(
                        k.clone(),
                        FieldCode::ReadOnly,
                        "you may not change this field",
                    ));
                }
            }
        }
        if !unknown.is_empty() {
            return Err(Error::validation(unknown));
        }
        if !denied.is_empty() {
            let names: Vec<&str> = denied.iter().map(|e| e.field.as_str()).collect();
            return Err(
                Error::permission_denied(format!("you may not change {}", names.join(", "))).with_errors(denied),
            );
        }
        Ok(())
    }

    /// The fields a right's row scope looks at: `owner` for `own` and `team`, the fields a
    /// filter names (empty: every row).
    pub fn scope_fields(&self, right: Right) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(Reach::Any(scopes)) = self.grant.reach(right) else {
            return out;
        };
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(f)) = o.get("field")
                        && !out.contains(f)
                    {
                        out.push(f.clone());
                    }
                    o.values().for_each(|x| walk(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        for s in scopes {
            match s {
                RowScope::Own | RowScope::Team => {
                    if !out.iter().any(|f| f == "owner") {
                        out.push("owner".into());
                    }
                }
                RowScope::Filter(v) => walk(v, &mut out),
            }
        }
        out
    }

    /// Removes hidden fields from an answered record.
    pub fn redact(&self, json: &mut Value) {
        if self.grant.full || self.grant.hidden.is_empty() {
            return;
        }
        if let Value::Object(m) = json {
            m.retain(|k, _| !self.grant.hidden.contains(k));
        }
    }

    /// Storage ids of the hidden fields (history keeps changes by storage id).
    pub fn hidden_ids(&self) -> HashSet<String> {
        self.entity
            .def
            .fields
            .iter()
            .filter(|f| self.grant.hidden.contains(f.name.as_str()))
            .map(|f| f.storage_id().to_string())
            .collect()
    }
}

/// The caller's teams (with the teams below them) and the members of those teams.
struct Teams {
    ids: Vec<String>,
    members: Vec<String>,
}

impl Teams {
    /// What `$user.team` (the first team) and `$user.teams` (every team, the teams below them
    /// too) stand for: an id that is no team's for a user without one, so a filter on them
    /// matches nothing rather than everything.
    fn placeholders(&self) -> (String, Vec<String>) {
        let first = self.ids.first().map_or(NO_ID, String::as_str).to_string();
        let all = if self.ids.is_empty() {
            vec![NO_ID.to_string()]
        } else {
            self.ids.clone()
        };
        (first, all)
    }
}

/// Whether a filter names `$user.team` or `$user.teams` anywhere.
fn names_teams(v: &Value) -> bool {
    match v {
        Value::String(s) => s == "$user.team" || s == "$user.teams",
        Value::Array(a) => a.iter().any(names_teams),
        Value::Object(o) => o.values().any(names_teams),
        _ => false,
    }
}

/// Values loaded from the database and kept per key for a time to live, at most
/// [`CACHE_MAX`] of them (past that the expired go, then all). A node forgets an entry when it
/// changes what it holds; other nodes see the change within the TTL, as they do app versions.
struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, Stamped<V>>>,
    ttl: Duration,
}

/// A cached value and when it was loaded.
type Stamped<V> = (Instant, Arc<V>);

impl<K: std::hash::Hash + Eq, V> TtlCache<K, V> {
    fn new(ttl: Duration) -> Self {
        TtlCache {
            entries: Mutex::default(),
            ttl,
        }
    }

    fn get(&self, key: &K) -> Option<Arc<V>> {
        match self.entries.lock().get(key) {
            Some((at, v)) if at.elapsed() < self.ttl => Some(v.clone()),
            _ => None,
        }
    }

    fn put(&self, key: K, value: Arc<V>) {
        let mut cache = self.entries.lock();
        if cache.len() >= CACHE_MAX {
            cache.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now(), value));
    }

    fn forget(&self, key: &K) {
        self.entries.lock().remove(key);
    }
}

/// A tenant's teams and memberships.
type TeamTree = (Vec<teams::TeamRow>, Vec<(String, String)>);

impl Engine {
    /// Drops the cached roles of a user in an app (after this node changed them).
    pub(crate) fn forget_roles(&self, app_id: &str, user: &str) {
        self.caches.roles.forget(&(app_id.to_string(), user.to_string()));
    }

    async fn cached_roles<C: trellis_store::Reads>(
        &self,
        conn: &C,
        app_id: &str,
        user: &str,
    ) -> Result<Arc<Vec<String>>, Error> {
        let key = (app_id.to_string(), user.to_string());
        if let Some(roles) = self.caches.roles.get(&key) {
            return Ok(roles);
        }
        let roles = Arc::new(directory::roles_of(conn, app_id, user).await?);
        self.caches.roles.put(key, roles.clone());
        Ok(roles)
    }

    /// Drops a tenant's cached team tree (after this node changed it).
    pub(crate) fn forget_teams(&self, tenant: &str) {
        self.caches.teams.forget(&tenant.to_string());
    }

    async fn team_tree<C: trellis_store::Reads>(&self, conn: &C, tenant: &str) -> Result<Arc<TeamTree>, Error> {
        if let Some(tree) = self.caches.teams.get(&tenant.to_string()) {
            return Ok(tree);
        }
        let tree = Arc::new((
            teams::teams_of(conn, tenant).await?,
            teams::memberships_of(conn, tenant).await?,
        ));
        self.caches.teams.put(tenant.to_string(), tree.clone());
        Ok(tree)
    }

    async fn teams_of_user<C: trellis_store::Reads>(&self, conn: &C, tenant: &str, user: &str) -> Result<Teams, Error> {
        let tree = self.team_tree(conn, tenant).await?;
        let (all, memberships) = (&tree.0, &tree.1);
        let mut ids: Vec<String> = memberships
            .iter()
            .filter(|(_, u)| u == user)
            .map(|(t, _)| t.clone())
            .collect();
        ids.sort();
        // Descendants: teams whose parent is in the set, until nothing is added (cycles are refused
        // at write, and the set only grows, so this ends).
        let mut seen: HashSet<String> = ids.iter().cloned().collect();
        loop {
            let more: Vec<String> = all
                .iter()
                .filter(|t| t.parent_id.as_ref().is_some_and(|p| seen.contains(p)) && !seen.contains(&t.id))
                .map(|t| t.id.clone())
                .collect();
            if more.is_empty() {
                break;
            }
            for m in more {
                seen.insert(m.clone());
                ids.push(m);
            }
        }
        let mut members: Vec<String> = memberships
            .iter()
            .filter(|(t, _)| seen.contains(t))
            .map(|(_, u)| u.clone())
            .collect();
        members.sort();
        members.dedup();
        Ok(Teams { ids, members })
    }
}

/// The user's first team (the smallest id of the teams they are a member of): `$user.team` in
/// scopes and `user.team` in scripts.
pub async fn first_team<C: trellis_store::Reads>(conn: &C, tenant: &str, user: &str) -> Result<Option<String>, Error> {
    Ok(teams::memberships_of(conn, tenant)
        .await?
        .into_iter()
        .filter(|(_, u)| u == user)
        .map(|(t, _)| t)
        .min())
}

impl Engine {
    /// The `user` scripts see: id, the roles held in the app (plus `admin` for tenant
    /// administrators) and the first team.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn script_user<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
    ) -> Result<trellis_rules::UserInfo, Error> {
        self.user_info_of(conn, ctx.tenant_id(), app, ctx.user_id(), ctx.is_admin())
            .await
    }

    /// [`Engine::script_user`] for any user of the tenant.
    pub async fn user_info_of<C: trellis_store::Reads>(
        &self,
        conn: &C,
        tenant: &str,
        app: &LoadedApp,
        user: &str,
        is_admin: bool,
    ) -> Result<trellis_rules::UserInfo, Error> {
        let mut roles = self.cached_roles(conn, &app.id, user).await?.to_vec();
        if is_admin {
            roles.push("admin".into());
        }
        Ok(trellis_rules::UserInfo {
            id: user.to_string(),
            roles,
            team: first_team(conn, tenant, user).await?,
        })
    }
}

fn owner_in(entity: &CompiledEntity, ids: Vec<String>) -> Filter {
    let owner = entity.column("owner").expect("every entity has an owner").clone();
    let values = if ids.is_empty() {
        vec![Val::Text(NO_ID.to_string())]
    } else {
        ids.into_iter().map(Val::Text).collect()
    };
    Filter::Cond {
        field: Box::new(owner),
        op: if values.len() == 1 { Op::Eq } else { Op::In },
        values,
        is_null: false,
    }
}

/// The owners a row scope keeps the rows of, when it is made of owner conditions only (the
/// own and team scopes, and their union); `None` for a scope with a filter.
pub fn scope_owners(scope: &Filter) -> Option<Vec<&str>> {
    match scope {
        Filter::Cond {
            field,
            op: Op::Eq | Op::In,
            values,
            is_null: false,
        } if field.system && field.name == "owner" => values
            .iter()
            .map(|v| match v {
                Val::Text(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        Filter::Or(parts) => {
            let mut owners = Vec::new();
            for p in parts {
                owners.extend(scope_owners(p)?);
            }
            Some(owners)
        }
        _ => None,
    }
}

/// `a AND b` of two optional filters.
pub fn and(a: Option<Filter>, b: Option<Filter>) -> Option<Filter> {
    match (a, b) {
        (Some(a), Some(b)) => Some(Filter::And(vec![a, b])),
        (a, b) => a.or(b),
    }
}

/// A record by id within a row scope (`None`: any record).
pub async fn get_scoped<C: trellis_store::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    id: &str,
    scope: Option<&Filter>,
    wanted: Option<&[usize]>,
) -> Result<Option<Row>, Error> {
    let Some(scope) = scope else {
        return Ok(records::get(conn, entity, id, wanted).await?);
    };
    let id_col = entity.column("id").expect("every entity has an id").clone();
    let q = ListQuery {
        filter: Some(Filter::And(vec![
            Filter::Cond {
                field: Box::new(id_col),
                op: Op::Eq,
                values: vec![Val::Text(id.to_string())],
                is_null: false,
            },
            scope.clone(),
        ])),
        limit: 1,
        columns: wanted.map(<[usize]>::to_vec),
        ..Default::default()
    };
    Ok(records::list(conn, entity, &q).await?.pop())
}

/// A record by id within a row scope, read for a write: the row is locked until the
/// transaction ends (on PostgreSQL; SQLite's one writer holds everything), so the version read
/// is still the stored one when the write checks it. Without the lock a concurrent write
/// committing in between failed a PATCH without `If-Match` as stale (412).
pub async fn get_scoped_for_write<C: trellis_store::Writes>(
    conn: &C,
    entity: &CompiledEntity,
    id: &str,
    scope: Option<&Filter>,
) -> Result<Option<Row>, Error> {
    records::lock(conn, &entity.table, &[id.to_string()]).await?;
    get_scoped(conn, entity, id, scope, None).await
}

/// Records by ids within a row scope, in one statement per 500 ids.
pub async fn get_many_scoped<C: trellis_store::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    ids: &[String],
    scope: &Filter,
) -> Result<Vec<Row>, Error> {
    scoped_by_ids(conn, entity, ids, Some(scope), None).await
}

/// Which of `ids` exist within a row scope (`None`: any record), reading system columns only,
/// in one statement per 500 ids.
pub async fn ids_in_scope<C: trellis_store::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    ids: &[String],
    scope: Option<&Filter>,
) -> Result<std::collections::HashSet<String>, Error> {
    let rows = scoped_by_ids(conn, entity, ids, scope, Some(Vec::new())).await?;
    Ok(rows.iter().map(|r| r.id().to_string()).collect())
}

async fn scoped_by_ids<C: trellis_store::Reads>(
    conn: &C,
    entity: &CompiledEntity,
    ids: &[String],
    scope: Option<&Filter>,
    columns: Option<Vec<usize>>,
) -> Result<Vec<Row>, Error> {
    let id_col = entity.column("id").expect("every entity has an id").clone();
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let by_id = Filter::Cond {
            field: Box::new(id_col.clone()),
            op: Op::In,
            values: chunk.iter().cloned().map(Val::Text).collect(),
            is_null: false,
        };
        let q = ListQuery {
            filter: Some(match scope {
                Some(scope) => Filter::And(vec![by_id, scope.clone()]),
                None => by_id,
            }),
            limit: chunk.len() as u64,
            columns: columns.clone(),
            ..Default::default()
        };
        out.extend(records::list(conn, entity, &q).await?);
    }
    Ok(out)
}

impl Engine {
    /// What the caller may do with an entity of an app. Tenant administrators and every user of
    /// an app where no role declares permissions may do everything; otherwise the union of the
    /// roles the caller holds (an API token with a role: only that role).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn access<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &Arc<CompiledEntity>,
    ) -> Result<Access, Error> {
        if !is_guarded(&app.def) || ctx.is_admin() {
            return Ok(Access::full(entity));
        }
        let roles = self.caller_roles(conn, ctx, &app.id, &app.def).await?;
        let key = (app.id.clone(), app.version, entity.name().to_string(), roles.join(","));
        if let Some(a) = self.caches.access.lock().get(&key) {
            return Ok(a.clone());
        }
        let grant = EntityGrant::of_roles(&app.def, &entity.def, &roles);
        let view = if grant.hidden.is_empty() {
            entity.clone()
        } else {
            Arc::new(entity.without(&grant.hidden))
        };
        let access = Access {
            grant: Arc::new(grant),
            entity: entity.clone(),
            view,
        };
        let mut cache = self.caches.access.lock();
        if cache.len() >= CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, access.clone());
        Ok(access)
    }

    /// The roles the caller acts with in an app, sorted: those they hold, or with an API token
    /// made for a role only that one (an administrator's role token acts as the role without
    /// holding it).
    pub(crate) async fn caller_roles<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app_id: &str,
        def: &AppDef,
    ) -> Result<Vec<String>, Error> {
        let mut roles: Vec<String> = if ctx.user_is_admin() {
            def.roles.iter().map(|r| r.name.to_string()).collect()
        } else {
            self.cached_roles(conn, app_id, ctx.user_id()).await?.to_vec()
        };
        if let Some(r) = ctx.token_role() {
            roles.retain(|x| x == r);
        }
        roles.sort();
        roles.dedup();
        Ok(roles)
    }

    /// Refuses a caller who may not dry-run or run rule `rule`, or read its runs (403): tenant
    /// administrators may, and everyone in an app where no role declares permissions; otherwise
    /// a role of the caller must give `run_rules` for it.
    #[tracing::instrument(level = "debug", skip_all, fields(rule = %rule))]
    pub async fn require_rule_right<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        rule: &str,
    ) -> Result<(), Error> {
        if !is_guarded(&app.def) || ctx.is_admin() {
            return Ok(());
        }
        let roles = self.caller_roles(conn, ctx, &app.id, &app.def).await?;
        let given = app
            .def
            .roles
            .iter()
            .filter(|r| roles.iter().any(|n| n == r.name.as_str()))
            .any(|r| r.run_rules.allows(rule));
        if given {
            Ok(())
        } else {
            Err(Error::permission_denied(format!(
                "you may not test or run rule '{}' (a role's run_rules gives it)",
                trellis_core::names::truncate(rule, 64)
            )))
        }
    }

    /// The fields hidden from the caller in each entity of the app
    /// ([`trellis_core::permissions::hidden_by_entity`]); empty for tenant administrators and in
    /// an app without permissions.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn hidden_fields<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
    ) -> Result<trellis_core::permissions::HiddenFields, Error> {
        if !is_guarded(&app.def) || ctx.is_admin() {
            return Ok(Default::default());
        }
        let roles = self.caller_roles(conn, ctx, &app.id, &app.def).await?;
        Ok(trellis_core::permissions::hidden_by_entity(&app.def, &roles))
    }

    /// An app's definition as the caller may read it: everything (secrets masked) for tenant
    /// administrators and in an app without permissions; otherwise without the fields hidden
    /// from the caller, and with rules as summaries ([`trellis_core::permissions::app_view`]).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn def_for<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        app_id: &str,
        def: &AppDef,
    ) -> Result<AppDef, Error> {
        if !is_guarded(def) || ctx.is_admin() {
            return Ok(trellis_core::automation::masked_app(def));
        }
        let roles = self.caller_roles(conn, ctx, app_id, def).await?;
        Ok(trellis_core::permissions::app_view(def, &roles))
    }

    /// A filter the caller sent or a view holds for its reader (a list's, an export's, an
    /// aggregate's), with `$user.id` standing for the caller, `$user.team` for their first team
    /// and `$user.teams` for all their teams and those below them, as in a role's scope filter
    /// (a user without a team: an id that is no team's). The teams are read only when named.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn for_reader<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        filter: &Value,
    ) -> Result<Value, Error> {
        let (first, all) = if names_teams(filter) {
            self.teams_of_user(conn, ctx.tenant_id(), ctx.user_id())
                .await?
                .placeholders()
        } else {
            (NO_ID.to_string(), vec![NO_ID.to_string()])
        };
        Ok(substitute(filter, ctx.user_id(), &first, &all))
    }

    /// The row scope of a right as a filter over the entity (`None`: every row); 403 when the
    /// right is not given.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn scope<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        access: &Access,
        right: Right,
    ) -> Result<Option<Filter>, Error> {
        let scopes = match access.require(right)? {
            Reach::All => return Ok(None),
            Reach::Any(s) => s.clone(),
        };
        let needs_teams = scopes.iter().any(|s| !matches!(s, RowScope::Own));
        let teams = if needs_teams {
            Some(self.teams_of_user(conn, ctx.tenant_id(), ctx.user_id()).await?)
        } else {
            None
        };
        let mut parts = Vec::with_capacity(scopes.len());
        for s in scopes {
            parts.push(match s {
                RowScope::Own => owner_in(&access.entity, vec![ctx.user_id().to_string()]),
                RowScope::Team => {
                    let t = teams.as_ref().expect("teams loaded");
                    owner_in(&access.entity, t.members.clone())
                }
                RowScope::Filter(v) => {
                    let (first, all) = teams.as_ref().expect("teams loaded").placeholders();
                    let v = substitute(&v, ctx.user_id(), &first, &all);
                    parse_filter(&access.entity, &v)
                        .map_err(|e| Error::internal(format!("a role's scope filter no longer parses: {e}")))?
                }
            });
        }
        Ok(Some(if parts.len() == 1 {
            parts.pop().expect("one part")
        } else {
            Filter::Or(parts)
        }))
    }
}
