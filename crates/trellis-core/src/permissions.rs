//! Role permissions: what a role of an app may do with each entity (rights, a row scope, hidden
//! and read-only fields), their checks at save, and the union of a user's roles into one
//! [`EntityGrant`] per entity. The engine turns a grant's row scope into a [`crate::query::Filter`]
//! with the caller's id and teams (`trellis_engine::access`).

use crate::error::FieldCode;
use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::compile::CompiledEntity;
use crate::def::{AppDef, EntityDef};
use crate::error::FieldError;

/// What one role may do with one entity. Rights not given are refused; `scope` limits the rows
/// of every right the role gives (default: all rows).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityPermissions {
    #[serde(default, skip_serializing_if = "is_false")]
    pub create: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub update: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub delete: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub export: bool,
    /// `true`: any transition; a list: only transitions into these stages.
    #[serde(default, skip_serializing_if = "TransitionRight::is_none")]
    pub transition: TransitionRight,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub scope: Option<ScopeDef>,
    /// Fields the role does not see (`hidden`) or may not change (`read_only`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, FieldAccess>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The transition right of a role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TransitionRight {
    All(bool),
    To(Vec<String>),
}

impl Default for TransitionRight {
    fn default() -> Self {
        TransitionRight::All(false)
    }
}

impl TransitionRight {
    pub fn is_none(&self) -> bool {
        *self == TransitionRight::All(false)
    }
}

/// Which automation rules a role may dry-run (`POST /apps/{app}/rules/{rule}/test`), run on a
/// record (manual rules) and whose runs it may read: `true` every rule, a list only those.
/// Records stay within the role's read scope and view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum RunRules {
    All(bool),
    Only(Vec<String>),
}

impl Default for RunRules {
    fn default() -> Self {
        RunRules::All(false)
    }
}

impl RunRules {
    pub fn is_none(&self) -> bool {
        *self == RunRules::All(false)
    }

    /// Whether the right covers rule `name`.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            RunRules::All(b) => *b,
            RunRules::Only(list) => list.iter().any(|r| r == name),
        }
    }
}

/// Which rows a role's rights apply to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ScopeDef {
    Named(NamedScope),
    Filter(FilterScope),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NamedScope {
    /// Records the user owns.
    Own,
    /// Records owned by members of the user's teams and of the teams below them.
    Team,
    All,
}

/// Records matching a list filter; `"$user.id"`, `"$user.team"` (the user's first team) and
/// `"$user.teams"` (all the user's teams and the teams below them, for `in`) are replaced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterScope {
    pub filter: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldAccess {
    Hidden,
    ReadOnly,
}

/// A row scope of a grant, before the caller's id and teams are known.
#[derive(Debug, Clone, PartialEq)]
pub enum RowScope {
    Own,
    Team,
    Filter(Value),
}

/// The rows a right reaches: all of them, or those of any of the scopes.
#[derive(Debug, Clone, PartialEq)]
pub enum Reach {
    All,
    Any(Vec<RowScope>),
}

impl Reach {
    fn add(&mut self, s: &Option<ScopeDef>) {
        let scope = match s {
            None | Some(ScopeDef::Named(NamedScope::All)) => {
                *self = Reach::All;
                return;
            }
            Some(ScopeDef::Named(NamedScope::Own)) => RowScope::Own,
            Some(ScopeDef::Named(NamedScope::Team)) => RowScope::Team,
            Some(ScopeDef::Filter(f)) => RowScope::Filter(f.filter.clone()),
        };
        if let Reach::Any(list) = self
            && !list.contains(&scope)
        {
            list.push(scope);
        }
    }
}

/// The rights a kind of action needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Right {
    Create,
    Read,
    Update,
    Delete,
    Export,
    Transition,
}

impl Right {
    pub fn as_str(self) -> &'static str {
        match self {
            Right::Create => "create",
            Right::Read => "read",
            Right::Update => "update",
            Right::Delete => "delete",
            Right::Export => "export",
            Right::Transition => "transition",
        }
    }
}

/// What a set of roles may do with one entity: the union of the roles' permissions.
#[derive(Debug, Clone, Default)]
pub struct EntityGrant {
    /// Everything (a tenant administrator, or an app without permissions).
    pub full: bool,
    pub create: Option<Reach>,
    pub read: Option<Reach>,
    pub update: Option<Reach>,
    pub delete: Option<Reach>,
    pub export: Option<Reach>,
    pub transition: Option<Reach>,
    /// Stages a transition may move records to; `None`: any.
    pub transition_to: Option<HashSet<String>>,
    /// Fields hidden in every role that reads the entity.
    pub hidden: HashSet<String>,
    /// Visible fields no role that writes the entity may change.
    pub read_only: HashSet<String>,
}

impl EntityGrant {
    /// Every right on every row and field.
    pub fn full() -> EntityGrant {
        EntityGrant {
            full: true,
            ..Default::default()
        }
    }

    /// The rows a right reaches; `None` when it is not given.
    pub fn reach(&self, right: Right) -> Option<&Reach> {
        if self.full {
            return Some(&Reach::All);
        }
        match right {
            Right::Create => self.create.as_ref(),
            Right::Read => self.read.as_ref(),
            Right::Update => self.update.as_ref(),
            Right::Delete => self.delete.as_ref(),
            Right::Export => self.export.as_ref(),
            Right::Transition => self.transition.as_ref(),
        }
    }

    /// Whether a transition into `stage` is allowed by the transition right.
    pub fn may_enter(&self, stage: &str) -> bool {
        self.full || (self.transition.is_some() && self.transition_to.as_ref().is_none_or(|s| s.contains(stage)))
    }

    /// Union of the permissions the named roles give on an entity (roles without permissions
    /// for it give nothing). A field derived from hidden values is hidden too: a rollup over a
    /// field of the other entity hidden from these roles (its aggregate would show it), and a
    /// formula that reads a hidden field (`record.<field>`).
    pub fn of_roles(app: &AppDef, entity: &EntityDef, roles: &[String]) -> EntityGrant {
        Self::of_roles_at(app, entity, roles, 0)
    }

    /// [`EntityGrant::of_roles`], `depth` rollups away from the entity asked about (rollups over
    /// rollups are followed a few levels, and never round a cycle for ever).
    fn of_roles_at(app: &AppDef, entity: &EntityDef, roles: &[String], depth: usize) -> EntityGrant {
        let mut g = Self::declared(app, entity, roles);
        let mut derived: Vec<String> = Vec::new();
        for f in &entity.fields {
            let Some(r) = &f.rollup else { continue };
            let Some(over) = &r.field else { continue };
            let hidden_there = match app.entity(r.from.as_str()) {
                Some(from) if depth < 3 => Self::of_roles_at(app, from, roles, depth + 1)
                    .hidden
                    .contains(over.as_str()),
                _ => true,
            };
            if hidden_there {
                derived.push(f.name.to_string());
            }
        }
        // A rollup that counts or adds records chosen by a hidden value (its filter names a
        // field hidden on the other entity, or its relation is hidden there) shows an aggregate
        // of that value.
        for f in &entity.fields {
            let Some(r) = &f.rollup else { continue };
            if derived.iter().any(|d| d == f.name.as_str()) {
                continue;
            }
            let chosen_by_hidden = match app.entity(r.from.as_str()) {
                Some(from) if depth < 3 => {
                    let there = Self::of_roles_at(app, from, roles, depth + 1).hidden;
                    there.contains(r.via.as_str()) || r.filter.as_ref().is_some_and(|v| filter_names(v, &there))
                }
                _ => true,
            };
            if chosen_by_hidden {
                derived.push(f.name.to_string());
            }
        }
        g.hidden.extend(derived);
        // Formulas read formulas: until nothing more is hidden.
        loop {
            let more: Vec<String> = entity
                .fields
                .iter()
                .filter(|f| !g.hidden.contains(f.name.as_str()))
                .filter(|f| {
                    f.formula
                        .as_deref()
                        .is_some_and(|s| g.hidden.iter().any(|h| reads_field(s, h)))
                })
                .map(|f| f.name.to_string())
                .collect();
            if more.is_empty() {
                break;
            }
            g.hidden.extend(more);
        }
        g.read_only.retain(|f| !g.hidden.contains(f));
        g
    }

    /// The union of what the roles declare, before derived fields are looked at.
    fn declared(app: &AppDef, entity: &EntityDef, roles: &[String]) -> EntityGrant {
        let mut g = EntityGrant::default();
        let perms: Vec<&EntityPermissions> = app
            .roles
            .iter()
            .filter(|r| roles.iter().any(|n| n == r.name.as_str()))
            .filter_map(|r| r.permissions.as_ref()?.get(entity.name.as_str()))
            .collect();
        let mut visible: HashSet<String> = HashSet::new();
        let mut writable: HashSet<String> = HashSet::new();
        // `owner` may be declared read-only (never hidden): writable when a role that writes
        // does not declare it.
        let mut owner_writable = false;
        let mut any_stage = false;
        let mut stages: HashSet<String> = HashSet::new();
        for p in &perms {
            let add = |slot: &mut Option<Reach>| slot.get_or_insert(Reach::Any(Vec::new())).add(&p.scope);
            if p.create {
                add(&mut g.create);
            }
            if p.read {
                add(&mut g.read);
                for f in &entity.fields {
                    if p.fields.get(f.name.as_str()) != Some(&FieldAccess::Hidden) {
                        visible.insert(f.name.to_string());
                    }
                }
            }
            if p.update {
                add(&mut g.update);
            }
            if p.create || p.update {
                owner_writable |= !p.fields.contains_key(OWNER);
                for f in &entity.fields {
                    if !p.fields.contains_key(f.name.as_str()) {
                        writable.insert(f.name.to_string());
                    }
                }
            }
            if p.delete {
                add(&mut g.delete);
            }
            if p.export {
                add(&mut g.export);
            }
            match &p.transition {
                TransitionRight::All(false) => {}
                TransitionRight::All(true) => {
                    add(&mut g.transition);
                    any_stage = true;
                }
                TransitionRight::To(list) => {
                    add(&mut g.transition);
                    stages.extend(list.iter().cloned());
                }
            }
        }
        g.transition_to = (!any_stage).then_some(stages);
        if !owner_writable {
            g.read_only.insert(OWNER.to_string());
        }
        for f in &entity.fields {
            let name = f.name.to_string();
            if !visible.contains(&name) {
                g.hidden.insert(name);
            } else if !writable.contains(&name) {
                g.read_only.insert(name);
            }
        }
        g
    }
}

/// Whether a script reads `record.<field>` (or `record["<field>"]`): a formula reading a
/// hidden field would show it.
pub fn reads_field(script: &str, field: &str) -> bool {
    reads_path(script, "record", field)
}

/// Whether a script reads `<base>.<field>` (or `<base>["<field>"]`), `base` being a variable
/// (`record`, `old`) or a path (`related.customer`).
fn reads_path(script: &str, base: &str, field: &str) -> bool {
    let dotted = format!("{base}.{field}");
    let dotted_hit = script.match_indices(&dotted).any(|(i, _)| {
        let before = script[..i].chars().next_back();
        let after = script[i + dotted.len()..].chars().next();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
    });
    dotted_hit || script.contains(&format!("{base}[\"{field}\"]"))
}

/// The fields hidden from a caller, by entity name (entities where none is hidden are left
/// out): what [`hidden_by_entity`] answers and [`script_reads_hidden`] reads.
pub type HiddenFields = std::collections::HashMap<String, HashSet<String>>;

/// The fields these roles hide in each entity of the app (derived fields included, see
/// [`EntityGrant::of_roles`]). For a caller who is never limited (a tenant administrator, an
/// app without permissions) the engine uses an empty map instead.
pub fn hidden_by_entity(app: &AppDef, roles: &[String]) -> HiddenFields {
    app.entities
        .iter()
        .map(|e| (e.name.to_string(), EntityGrant::of_roles(app, e, roles).hidden))
        .filter(|(_, h)| !h.is_empty())
        .collect()
}

/// Whether a script of `entity` reads a value hidden from the caller: a hidden field of the
/// record (`record.<f>`, `old.<f>`, `record["<f>"]`), a hidden relation (`related.<rel>`), or
/// a hidden field of a related record (`related.<rel>.<f>`). A static reading of its text, as
/// the checks at save make.
pub fn script_reads_hidden(app: &AppDef, entity: &EntityDef, hidden: &HiddenFields, script: &str) -> bool {
    if let Some(h) = hidden.get(entity.name.as_str())
        && h.iter().any(|f| {
            reads_path(script, "record", f) || reads_path(script, "old", f) || reads_path(script, "related", f)
        })
    {
        return true;
    }
    entity.fields.iter().filter(|f| f.target.is_some()).any(|rel| {
        let target = rel.target.as_ref().and_then(|t| app.entity(t.as_str()));
        let Some(h) = target.and_then(|t| hidden.get(t.name.as_str())) else {
            return false;
        };
        let base = format!("related.{}", rel.name);
        h.iter().any(|f| reads_path(script, &base, f))
    })
}

/// Whether a list filter (`{field, op, value}`, `and`, `or`, `not`) names one of the fields.
pub fn filter_names(filter: &Value, fields: &HashSet<String>) -> bool {
    match filter {
        Value::Object(o) => {
            o.get("field")
                .and_then(Value::as_str)
                .is_some_and(|f| fields.contains(f))
                || ["and", "or", "not"]
                    .iter()
                    .filter_map(|k| o.get(*k))
                    .any(|v| filter_names(v, fields))
        }
        Value::Array(a) => a.iter().any(|v| filter_names(v, fields)),
        _ => false,
    }
}

/// An app's definition as a user with these roles sees it: no field hidden from them is named
/// or shown anywhere in it, and the rules are summaries (what starts them, secrets masked; not
/// what they do). Per place that could name one:
/// - the field itself, the title field, indexes naming one, role field settings: left out;
/// - validation rules reading a hidden field (`record.<f>`, `old.<f>`, `related.<rel>.<f>` in
///   `when` or `assert`, see [`script_reads_hidden`]) or reported on one: left out;
/// - `required_if` of a visible field that reads a hidden one: left out (the field stays);
/// - rollups counting or adding records chosen by a hidden field: hidden as derived fields
///   ([`EntityGrant::of_roles`]), so their filters never show;
/// - role scope filters naming a field hidden from the caller: masked, the filter reads
///   `null` (the role keeps a filter the caller may not read; it is not shown as "all rows");
/// - pipelines: see [`without_hidden`]; user fields that may make a transition and an SLA's
///   escalation to a hidden user field: left out;
/// - rules whose trigger names a hidden field (`field_changed`, `relative_time`) or whose
///   condition reads one ([`rule_reads_hidden`]): left out;
/// - views: see [`crate::view::visible_views`]; forms: [`crate::form::visible_forms`];
/// - `visible_if` naming a hidden field: left out (the field is always shown);
/// - dashboards: see [`crate::dashboard::visible_dashboards`].
pub fn app_view(app: &AppDef, roles: &[String]) -> AppDef {
    let mut v = app.clone();
    let all_hidden = hidden_by_entity(app, roles);
    for e in &mut v.entities {
        let Some(declared) = app.entity(e.name.as_str()) else {
            continue;
        };
        let hidden = all_hidden.get(e.name.as_str()).cloned().unwrap_or_default();
        let reads_hidden = |s: &str| script_reads_hidden(app, declared, &all_hidden, s);
        e.validations.retain(|r| {
            !r.field.as_ref().is_some_and(|f| hidden.contains(f.as_str()))
                && !reads_hidden(&r.assert)
                && !r.when.as_deref().is_some_and(reads_hidden)
        });
        for f in &mut e.fields {
            let names_hidden = |c: &crate::condition::RequiredIf| match c {
                crate::condition::RequiredIf::Script(s) => reads_hidden(s),
                crate::condition::RequiredIf::Filter(v) => filter_names(v, &hidden),
            };
            if f.required_if.as_ref().is_some_and(names_hidden) {
                f.required_if = None;
            }
            if f.visible_if.as_ref().is_some_and(|v| filter_names(v, &hidden)) {
                f.visible_if = None;
            }
        }
        if let Some(p) = e.pipeline.as_mut() {
            for s in &mut p.stages {
                without_hidden(&mut s.entry, &hidden, &reads_hidden);
                without_hidden(&mut s.exit, &hidden, &reads_hidden);
                if let Some(sla) = s.sla.as_mut()
                    && sla
                        .escalate_to
                        .as_ref()
                        .and_then(|u| u.field.as_ref())
                        .is_some_and(|f| hidden.contains(f.as_str()))
                {
                    sla.escalate_to = None;
                }
            }
            for t in &mut p.transitions {
                without_hidden(&mut t.requires, &hidden, &reads_hidden);
                if let Some(a) = t.allow.as_mut() {
                    a.user_fields.retain(|f| !hidden.contains(f.as_str()));
                }
            }
        }
        for r in &mut v.roles {
            if let Some(p) = r.permissions.as_mut().and_then(|p| p.get_mut(e.name.as_str())) {
                p.fields.retain(|k, _| !hidden.contains(k));
                if let Some(ScopeDef::Filter(f)) = p.scope.as_mut()
                    && filter_names(&f.filter, &hidden)
                {
                    f.filter = Value::Null;
                }
            }
        }
        if hidden.is_empty() {
            continue;
        }
        e.fields.retain(|f| !hidden.contains(f.name.as_str()));
        if e.title_field.as_ref().is_some_and(|t| hidden.contains(t.as_str())) {
            e.title_field = None;
        }
        e.indexes
            .retain(|i| !i.fields.iter().any(|f| hidden.contains(f.as_str())));
    }
    v.rules = app
        .rules
        .iter()
        .filter(|r| !rule_reads_hidden(app, r, &all_hidden))
        .map(crate::automation::RuleDef::summary)
        .collect();
    v.views = crate::view::visible_views(&app.views, &all_hidden);
    v.forms = crate::form::visible_forms(&app.forms, &all_hidden);
    v.dashboards = crate::dashboard::visible_dashboards(&app.dashboards, &all_hidden);
    v
}

/// Whether a rule's runs tell something of a value hidden from the caller (whether it ran,
/// whether its condition matched): its trigger names a hidden field (`field_changed`,
/// `relative_time`), or its condition reads one ([`script_reads_hidden`] over the trigger's
/// entity). Such a rule is left out of the caller's view of the app, and its runs with it.
pub fn rule_reads_hidden(app: &AppDef, rule: &crate::automation::RuleDef, hidden: &HiddenFields) -> bool {
    if hidden.is_empty() {
        return false;
    }
    if trigger_names_hidden(&rule.trigger, hidden) {
        return true;
    }
    let entity = rule.trigger.entity().and_then(|e| app.entity(e.as_str()));
    match (entity, rule.condition.as_deref()) {
        (Some(e), Some(c)) => script_reads_hidden(app, e, hidden, c),
        _ => false,
    }
}

/// Whether a rule's trigger names a field hidden from the caller.
fn trigger_names_hidden(t: &crate::automation::Trigger, hidden: &HiddenFields) -> bool {
    use crate::automation::Trigger;
    match t {
        Trigger::FieldChanged { entity, field, .. } | Trigger::RelativeTime { entity, field, .. } => {
            hidden.get(entity.as_str()).is_some_and(|h| h.contains(field.as_str()))
        }
        _ => false,
    }
}

/// A pipeline's requirements as a caller who may not see `hidden` reads them: the hidden fields
/// left out of the required ones and of evidence read from a field, and the script of a
/// condition that reads one (`reads_hidden`) left out (its name and message stay, so the caller
/// still sees what blocks a move).
fn without_hidden(
    req: &mut crate::pipeline::Requirements,
    hidden: &HashSet<String>,
    reads_hidden: &dyn Fn(&str) -> bool,
) {
    req.fields.retain(|f| !hidden.contains(f.as_str()));
    for a in &mut req.attachments {
        if a.field.as_ref().is_some_and(|f| hidden.contains(f.as_str())) {
            a.field = None;
        }
    }
    for c in &mut req.conditions {
        if reads_hidden(&c.assert) {
            c.assert = String::new();
        }
    }
}

/// The system field a role may declare `read_only` (who owns a record decides row scopes).
pub const OWNER: &str = "owner";

/// Whether any role of the app declares permissions; an app where none does is open to every
/// user of the tenant.
pub fn is_guarded(app: &AppDef) -> bool {
    app.roles.iter().any(|r| r.permissions.is_some())
}

/// The scope filter with its placeholders replaced.
pub fn substitute(v: &Value, user: &str, first_team: &str, teams: &[String]) -> Value {
    match v {
        Value::String(s) if s == "$user.id" => Value::String(user.to_string()),
        Value::String(s) if s == "$user.team" => Value::String(first_team.to_string()),
        Value::String(s) if s == "$user.teams" => Value::Array(teams.iter().cloned().map(Value::String).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, user, first_team, teams)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, user, first_team, teams)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// An id that is no user's or team's: what `$user.team` becomes for a user without a team.
pub const NO_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Checks the permissions of every role: known entities, fields and stages; filters that parse.
pub fn validate_permissions(app: &AppDef, errors: &mut Vec<FieldError>) {
    for r in &app.roles {
        if let RunRules::Only(list) = &r.run_rules {
            for (i, name) in list.iter().enumerate() {
                if app.rule(name).is_none() {
                    errors.push(FieldError::new(
                        format!("roles.{}.run_rules[{i}]", r.name),
                        FieldCode::UnknownRule,
                        format!("'{}' is not a rule of this app", crate::names::truncate(name, 64)),
                    ));
                }
            }
        }
        let Some(perms) = &r.permissions else { continue };
        for (ename, p) in perms {
            let at = format!("roles.{}.permissions.{ename}", r.name);
            let Some(e) = app.entity(ename) else {
                errors.push(FieldError::new(
                    &at,
                    FieldCode::UnknownEntity,
                    format!("'{}' is not an entity of this app", crate::names::truncate(ename, 64)),
                ));
                continue;
            };
            for (fname, how) in &p.fields {
                if fname == OWNER {
                    if *how != FieldAccess::ReadOnly {
                        errors.push(FieldError::new(
                            format!("{at}.fields.{OWNER}"),
                            FieldCode::Option,
                            "the owner can only be read_only",
                        ));
                    }
                } else if e.field(fname).is_none() {
                    errors.push(FieldError::new(
                        format!("{at}.fields.{}", crate::names::truncate(fname, 64)),
                        FieldCode::UnknownField,
                        format!("'{}' is not a field of '{}'", crate::names::truncate(fname, 64), e.name),
                    ));
                }
            }
            if let TransitionRight::To(list) = &p.transition {
                for (i, s) in list.iter().enumerate() {
                    let known = e.pipeline.as_ref().is_some_and(|pl| pl.stage(s).is_some());
                    if !known {
                        errors.push(FieldError::new(
                            format!("{at}.transition[{i}]"),
                            FieldCode::UnknownStage,
                            format!("'{}' is not a stage of '{}'", crate::names::truncate(s, 64), e.name),
                        ));
                    }
                }
            }
            if let Some(ScopeDef::Filter(f)) = &p.scope {
                let compiled = CompiledEntity::compile(e);
                let probe = substitute(&f.filter, NO_ID, NO_ID, &[NO_ID.to_string()]);
                if let Err(err) = crate::query::parse_filter(&compiled, &probe) {
                    for fe in err.errors {
                        errors.push(FieldError::new(
                            format!("{at}.scope.filter"),
                            fe.code,
                            format!("{}: {}", fe.field, fe.message),
                        ));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{assign_ids, parse_app, validate_app};
    use serde_json::json;

    fn app(roles: Value) -> AppDef {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "deal", "label": {"en": "Deal"}, "fields": [
                {"name": "title", "label": {"en": "T"}, "type": "text"},
                {"name": "margin", "label": {"en": "M"}, "type": "decimal"},
                {"name": "region", "label": {"en": "R"}, "type": "text"}
            ], "pipeline": {"stages": [{"key": "new", "label": {"en": "New"}}, {"key": "won", "label": {"en": "Won"}, "kind": "won"}],
                "transitions": [{"from": ["new"], "to": "won"}]}}],
            "roles": roles}))
        .unwrap();
        assign_ids(&mut a);
        a
    }

    #[test]
    fn rights_scopes_and_fields_are_the_union_of_the_roles() {
        let a = app(json!([
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {"deal": {"read": true, "update": true, "scope": "own",
                "transition": ["won"], "fields": {"margin": "hidden", "region": "read_only"}}}},
            {"name": "lead", "label": {"en": "Lead"}, "permissions": {"deal": {"read": true, "scope": "team",
                "fields": {"margin": "read_only"}}}},
            {"name": "none", "label": {"en": "None"}}
        ]));
        validate_app(&a).unwrap();
        let e = a.entity("deal").unwrap();
        let rep = EntityGrant::of_roles(&a, e, &["rep".into()]);
        assert_eq!(rep.read, Some(Reach::Any(vec![RowScope::Own])));
        assert!(rep.hidden.contains("margin") && rep.read_only.contains("region"));
        assert!(rep.create.is_none() && rep.may_enter("won") && !rep.may_enter("new"));
        let both = EntityGrant::of_roles(&a, e, &["rep".into(), "lead".into()]);
        assert_eq!(both.read, Some(Reach::Any(vec![RowScope::Own, RowScope::Team])));
        assert!(both.hidden.is_empty(), "visible in one role is visible");
        assert!(both.read_only.contains("margin"));
        let none = EntityGrant::of_roles(&a, e, &["none".into()]);
        assert!(none.read.is_none() && none.hidden.len() == 3);
        assert!(
            !rep.read_only.contains(OWNER),
            "a writing role that does not declare it"
        );
        let mut b = app(json!([{"name": "rep", "label": {"en": "Rep"}, "permissions": {"deal": {
            "create": true, "read": true, "fields": {"owner": "read_only"}}}}]));
        validate_app(&b).unwrap();
        let e = b.entity("deal").unwrap();
        assert!(EntityGrant::of_roles(&b, e, &["rep".into()]).read_only.contains(OWNER));
        b.roles[0].permissions.as_mut().unwrap().get_mut("deal").unwrap().fields =
            BTreeMap::from([(OWNER.to_string(), FieldAccess::Hidden)]);
        let err = validate_app(&b).unwrap_err();
        assert_eq!(err.errors[0].field, "roles.rep.permissions.deal.fields.owner");
        assert!(is_guarded(&a));
    }

    #[test]
    fn rules_whose_trigger_or_condition_reads_a_hidden_field_are_not_in_the_view() {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "customer", "label": {"en": "C"}, "fields": [
                {"name": "credit", "label": {"en": "C"}, "type": "integer"}]},
            {"name": "deal", "label": {"en": "D"}, "fields": [
                {"name": "amount", "label": {"en": "A"}, "type": "decimal"},
                {"name": "margin", "label": {"en": "M"}, "type": "decimal"},
                {"name": "customer", "label": {"en": "C"}, "type": "relation", "target": "customer"}]}],
            "roles": [{"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"read": true, "fields": {"margin": "hidden"}},
                "customer": {"read": true, "fields": {"credit": "hidden"}}}}],
            "rules": [
                {"name": "plain", "trigger": {"type": "record_created", "entity": "deal"},
                 "condition": "record.amount > 10", "actions": [{"type": "set_fields", "values": {"amount": 1}}]},
                {"name": "margin_rule", "trigger": {"type": "record_created", "entity": "deal"},
                 "condition": "record.margin > 10", "actions": [{"type": "set_fields", "values": {"amount": 1}}]},
                {"name": "credit_rule", "trigger": {"type": "record_updated", "entity": "deal"},
                 "condition": "related.customer.credit > 0", "actions": [{"type": "set_fields", "values": {"amount": 1}}]},
                {"name": "margin_changed", "trigger": {"type": "field_changed", "entity": "deal", "field": "margin"},
                 "actions": [{"type": "set_fields", "values": {"amount": 1}}]},
                {"name": "margins_x", "trigger": {"type": "record_created", "entity": "deal"},
                 "condition": "record.margins_x == ()", "actions": [{"type": "set_fields", "values": {"amount": 1}}]}]}))
        .unwrap();
        assign_ids(&mut a);
        let rep = ["rep".to_string()];
        let hidden = hidden_by_entity(&a, &rep);
        let reads: Vec<&str> = a
            .rules
            .iter()
            .filter(|r| rule_reads_hidden(&a, r, &hidden))
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(reads, ["margin_rule", "credit_rule", "margin_changed"]);
        let view: Vec<String> = app_view(&a, &rep).rules.iter().map(|r| r.name.to_string()).collect();
        assert_eq!(view, ["plain", "margins_x"]);
        assert!(a.rules.iter().all(|r| !rule_reads_hidden(&a, r, &HiddenFields::new())));
    }

    #[test]
    fn rollups_and_formulas_over_hidden_fields_are_hidden() {
        let mut a = parse_app(&json!({"name": "s", "label": {"en": "S"}, "entities": [
            {"name": "customer", "label": {"en": "C"}, "fields": [
                {"name": "n", "label": {"en": "N"}, "type": "integer", "rollup": {"from": "deal", "via": "customer", "fn": "count"}},
                {"name": "total", "label": {"en": "T"}, "type": "decimal", "rollup": {"from": "deal", "via": "customer", "fn": "sum", "field": "margin"}},
                {"name": "seen", "label": {"en": "S"}, "type": "decimal", "rollup": {"from": "deal", "via": "customer", "fn": "sum", "field": "amount"}}]},
            {"name": "deal", "label": {"en": "D"}, "fields": [
                {"name": "amount", "label": {"en": "A"}, "type": "decimal"},
                {"name": "margin", "label": {"en": "M"}, "type": "decimal"},
                {"name": "rate", "label": {"en": "R"}, "type": "decimal", "formula": "record.margin / record.amount"},
                {"name": "twice", "label": {"en": "T"}, "type": "decimal", "formula": "record.rate * 2"},
                {"name": "plain", "label": {"en": "P"}, "type": "decimal", "formula": "record.amount + record.margins_x"},
                {"name": "customer", "label": {"en": "C"}, "type": "relation", "target": "customer"}]}],
            "roles": [{"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "deal": {"read": true, "fields": {"margin": "hidden"}}, "customer": {"read": true}}}]}))
        .unwrap();
        assign_ids(&mut a);
        let rep = ["rep".to_string()];
        let deal = EntityGrant::of_roles(&a, a.entity("deal").unwrap(), &rep);
        let mut hidden: Vec<&str> = deal.hidden.iter().map(String::as_str).collect();
        hidden.sort();
        assert_eq!(
            hidden,
            ["margin", "rate", "twice"],
            "a formula reading a hidden field, and one reading that"
        );
        let customer = EntityGrant::of_roles(&a, a.entity("customer").unwrap(), &rep);
        assert_eq!(customer.hidden, HashSet::from(["total".to_string()]));
        assert!(reads_field("record[\"margin\"] + 1", "margin") && !reads_field("record.margins", "margin"));
        let view = app_view(&a, &rep);
        let names: Vec<&str> = view
            .entity("deal")
            .unwrap()
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["amount", "plain", "customer"]);
        assert!(view.roles[0].permissions.as_ref().unwrap()["deal"].fields.is_empty());
    }

    #[test]
    fn bad_permissions_are_named_by_path() {
        let a = app(json!([
            {"name": "rep", "label": {"en": "Rep"}, "permissions": {
                "nope": {"read": true},
                "deal": {"read": true, "transition": ["lost"], "fields": {"ghost": "hidden"},
                    "scope": {"filter": {"field": "owner", "op": "eq", "value": "$user.id"}}}}},
            {"name": "bad", "label": {"en": "Bad"}, "permissions": {
                "deal": {"scope": {"filter": {"field": "missing", "op": "eq", "value": 1}}}}}
        ]));
        let err = validate_app(&a).unwrap_err();
        let got: Vec<(&str, &str)> = err.errors.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert!(
            got.contains(&("roles.rep.permissions.nope", "unknown_entity")),
            "{got:?}"
        );
        assert!(
            got.contains(&("roles.rep.permissions.deal.fields.ghost", "unknown_field")),
            "{got:?}"
        );
        assert!(
            got.contains(&("roles.rep.permissions.deal.transition[0]", "unknown_stage")),
            "{got:?}"
        );
        assert!(
            got.contains(&("roles.bad.permissions.deal.scope.filter", "unknown_field")),
            "{got:?}"
        );
        assert_eq!(got.len(), 4, "{got:?}");
    }
}
