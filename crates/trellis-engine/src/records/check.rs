//! The checks of a write: values coerced against the definition before the transaction, then
//! in it relations, users, files, uniqueness, scripts and the writer's row scope.

use std::sync::Arc;
use trellis_core::error::FieldCode;

use serde_json::Value;
use trellis_core::def::FieldType;
use trellis_core::permissions::Right;
use trellis_core::{CompiledEntity, CompiledField, Error, FieldError, Val};
use trellis_store::records::{self, Row};
use trellis_store::{StoreError, system};

use crate::Engine;
use crate::access::get_scoped;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

use super::*;

/// The message of a `unique` error of a field declared `unique` (an index's names its fields).
pub(super) const UNIQUE_VALUE: &str = "another record has this value";

/// A JSON number that is a whole number, however written (`3` or `3.0`: JSON Schema's
/// `integer` takes both).
pub(super) fn whole_number(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0)
            .map(|f| f as i64)
    })
}

pub(super) fn is_empty(v: &Val) -> bool {
    match v {
        Val::Null => true,
        Val::Text(s) => s.trim().is_empty(),
        Val::Json(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// A field with a `visible_if`: whether it is required is known only on the record as written
/// ([`condition_errors`]), since a field the form does not show is never required.
fn shown_conditionally(entity: &CompiledEntity, f: &CompiledField) -> bool {
    entity.def.field(&f.name).is_some_and(|d| d.visible_if.is_some())
}

/// The requirements of the fields with conditions (`trellis_core::condition`) on the record as
/// written (`record`, formulas included), for the writer `user` who may not see `hidden`:
/// - a field whose `visible_if` is false is not required: a `required` problem of its Rhai
///   `required_if` is dropped from `errors`, and its `required` flag does not apply;
/// - a field hidden from the writer is not required by a condition either (they could neither
///   see nor fill it; the condition holds again on the next write of someone who can);
/// - otherwise an empty field that is `required`, or whose filter-form `required_if` holds, is
///   a `required` problem.
pub(super) fn condition_errors(
    entity: &CompiledEntity,
    fields: &[String],
    record: &[(&CompiledField, &Val)],
    user: &str,
    hidden: &std::collections::HashSet<String>,
    errors: &mut Vec<FieldError>,
) -> Result<(), Error> {
    use trellis_core::condition::{holds, parse, record_json};
    let json = record_json(record);
    let holds_for = |c: &Value| parse(entity, c, user).map(|f| holds(&f, &json));
    for name in fields {
        let (Some(def), Some(f)) = (entity.def.field(name), entity.column(name)) else {
            continue;
        };
        let visible = match &def.visible_if {
            Some(c) => holds_for(c)?,
            None => true,
        };
        if !visible || hidden.contains(name) {
            errors.retain(|e| !(e.field == *name && e.code == FieldCode::Required.as_str()));
            continue;
        }
        let required = def.required
            || match def.required_if.as_ref().and_then(|r| r.filter()) {
                Some(c) => holds_for(c)?,
                None => false,
            };
        let value = record.iter().find(|(c, _)| c.name == *name).map(|(_, v)| *v);
        let already = errors
            .iter()
            .any(|e| e.field == *name && e.code == FieldCode::Required.as_str());
        if required && value.is_none_or(is_empty) && !already {
            errors.push(required_error(f));
        }
    }
    Ok(())
}

pub(super) fn required_error(f: &CompiledField) -> FieldError {
    FieldError::new(f.name.clone(), FieldCode::Required, "is required")
}

/// Refuses a write whose record, as written, is outside the row scope of the right the writer
/// used (403 naming the scope's fields, those the body sent first). `sent`: the fields of the
/// body of an update.
pub(super) async fn ensure_in_scope<C: trellis_store::Reads>(
    tx: &C,
    entity: &CompiledEntity,
    guard: &Guard,
    right: Right,
    id: &str,
    sent: Option<&[String]>,
) -> Result<(), Error> {
    let Some(scope) = guard.scope.as_ref() else {
        return Ok(());
    };
    if get_scoped(tx, entity, id, Some(scope), None).await?.is_some() {
        return Ok(());
    }
    // A scope's field hidden from the writer is not named (the refusal stands).
    let mut named = guard.access.scope_fields(right);
    named.retain(|f| !guard.access.grant.hidden.contains(f));
    if let Some(sent) = sent {
        let hit: Vec<String> = named.iter().filter(|f| sent.contains(f)).cloned().collect();
        if !hit.is_empty() {
            named = hit;
        }
    }
    let errors = named
        .iter()
        .map(|f| {
            FieldError::new(
                f.clone(),
                FieldCode::OutOfScope,
                "the record would be outside the records you may reach",
            )
        })
        .collect();
    let fields = if named.is_empty() {
        String::new()
    } else {
        format!(" ({})", named.join(", "))
    };
    Err(Error::permission_denied(format!(
        "you may not {} a '{}' record outside your scope{fields}",
        right.as_str(),
        entity.name(),
    ))
    .with_errors(errors))
}

/// A write's values against the entity's unique declared indexes: each index whose fields the
/// write sets (a create: every index) and that then all hold a value is looked up; a match is
/// a `unique` error on each of its fields. An index naming a field hidden from the writer is
/// left to the database's constraint (409).
pub(super) async fn unique_index_errors<C: trellis_store::Reads>(
    tx: &C,
    entity: &CompiledEntity,
    values: &[(&CompiledField, Val)],
    current: Option<&records::Row>,
) -> Result<Vec<FieldError>, Error> {
    let mut errors = Vec::new();
    for index in entity.def.indexes.iter().filter(|i| i.unique) {
        let Some(columns) = index
            .fields
            .iter()
            .map(|n| entity.column(n.as_str()))
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        let sent = |c: &CompiledField| values.iter().find(|(f, _)| f.name == c.name).map(|(_, v)| v);
        if current.is_some() && !columns.iter().any(|c| sent(c).is_some()) {
            continue;
        }
        let key: Vec<(&CompiledField, &Val)> = columns
            .iter()
            .filter_map(|c| {
                let v = sent(c).or_else(|| current.and_then(|r| r.get(entity, &c.name)))?;
                (!v.is_null()).then_some((*c, v))
            })
            .collect();
        if key.len() < columns.len() {
            continue;
        }
        if records::find_duplicate_of(tx, entity, &key, current.map(records::Row::id))
            .await?
            .is_some()
        {
            let names: Vec<&str> = index.fields.iter().map(|f| f.as_str()).collect();
            for c in &columns {
                errors.push(FieldError::new(
                    c.name.clone(),
                    FieldCode::Unique,
                    format!("another record has the same {}", names.join(", ")),
                ));
            }
        }
    }
    Ok(errors)
}

pub(super) fn unique_to_conflict(e: StoreError) -> Error {
    if e.is_unique_violation() {
        Error::conflict("another record has the same value in a unique field (written concurrently)")
    } else {
        e.into()
    }
}

impl Engine {
    pub(crate) fn prepare<'e>(
        &self,
        entity: &'e CompiledEntity,
        body: &Value,
        current: Option<&Row>,
    ) -> Result<Prepared<'e>, Vec<FieldError>> {
        let Some(obj) = body.as_object() else {
            return Err(vec![FieldError::new(
                "$",
                FieldCode::Type,
                "the body must be a JSON object",
            )]);
        };
        let mut errors = Vec::new();
        let mut values = Vec::new();
        let mut owner = None;
        for (k, v) in obj {
            let Some(f) = entity.column(k) else {
                errors.push(FieldError::new(
                    trellis_core::names::truncate(k, 64),
                    FieldCode::UnknownField,
                    format!(
                        "'{}' is not a field of '{}'",
                        trellis_core::names::truncate(k, 64),
                        entity.name()
                    ),
                ));
                continue;
            };
            if f.system {
                if k == "owner" {
                    match f.coerce(v) {
                        Ok(Val::Text(s)) => owner = Some(Some(s)),
                        Ok(_) => owner = Some(None),
                        Err(e) => errors.push(e),
                    }
                } else {
                    let same = current
                        .and_then(|r| r.get(entity, k))
                        .is_some_and(|cur| cur.to_json(f) == *v);
                    if !same && k == "stage" {
                        errors.push(FieldError::new(
                            "stage",
                            FieldCode::UseTransition,
                            "the stage changes only through POST .../{id}/transition",
                        ));
                    } else if !same {
                        errors.push(FieldError::new(k.clone(), FieldCode::ReadOnly, "is set by Trellis"));
                    }
                }
                continue;
            }
            if f.kind == FieldType::AutoNumber || f.computed {
                // Set by Trellis: only the current value may be sent back (a record read,
                // edited and sent back whole); a create or any other value is refused.
                let same = current
                    .and_then(|r| r.get(entity, k))
                    .is_some_and(|cur| cur.to_json(f) == *v);
                if !same {
                    let why = if f.computed {
                        "is computed by its formula and cannot be set"
                    } else {
                        "is numbered automatically and cannot be set"
                    };
                    errors.push(FieldError::new(k.clone(), FieldCode::ReadOnly, why));
                }
                continue;
            }
            match f.coerce(v) {
                Ok(val) => {
                    if f.required && is_empty(&val) && !shown_conditionally(entity, f) {
                        errors.push(required_error(f));
                    } else {
                        values.push((f, val));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if current.is_none() {
            for f in entity.fields() {
                if f.kind == FieldType::AutoNumber || f.computed || obj.contains_key(&f.name) {
                    continue;
                }
                let val = match &f.default {
                    Some(d) => f.coerce(d).unwrap_or(Val::Null),
                    None => Val::Null,
                };
                if f.required && is_empty(&val) && !shown_conditionally(entity, f) {
                    errors.push(required_error(f));
                }
                values.push((f, val));
            }
        }
        if errors.is_empty() {
            Ok(Prepared { values, owner })
        } else {
            Err(errors)
        }
    }

    /// Checks in the transaction what needs the database: related records, users and attached
    /// files exist (attachments then hold the files' metadata), unique values are free.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn check_references<C: trellis_store::Reads>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        values: &mut [(&CompiledField, Val)],
        owner: Option<&str>,
        current: Option<&records::Row>,
        refs: &RefMemo,
    ) -> Result<Vec<FieldError>, Error> {
        let self_id = current.map(records::Row::id);
        let mut errors = crate::files::resolve_attachments(tx, ctx, values).await?;
        for (f, v) in values.iter() {
            let Val::Text(id) = v else { continue };
            match f.kind {
                FieldType::Relation => {
                    let target = f
                        .target
                        .as_deref()
                        .and_then(|t| app.entity(t))
                        .ok_or_else(|| Error::internal("relation without target"))?;
                    if refs.knows(target.name(), id) {
                        continue;
                    }
                    if self.may_read(tx, ctx, app, target, id).await? {
                        refs.learn(target.name(), id);
                    } else {
                        errors.push(FieldError::new(
                            f.name.clone(),
                            FieldCode::NotFound,
                            format!("no '{}' record has id {id}", target.name()),
                        ));
                    }
                }
                FieldType::User if refs.knows("", id) => {}
                FieldType::User
                    if system::existing_user_ids(tx, ctx.tenant_id(), std::slice::from_ref(id))
                        .await?
                        .is_empty() =>
                {
                    errors.push(FieldError::new(
                        f.name.clone(),
                        FieldCode::NotFound,
                        format!("no user has id {id}"),
                    ));
                }
                // A user found (the guard above asked).
                FieldType::User => refs.learn("", id),
                _ => {}
            }
        }
        if let Some(o) = owner
            && !refs.knows("", o)
        {
            if system::existing_user_ids(tx, ctx.tenant_id(), &[o.to_string()])
                .await?
                .is_empty()
            {
                errors.push(FieldError::new(
                    "owner",
                    FieldCode::NotFound,
                    format!("no user has id {o}"),
                ));
            } else {
                refs.learn("", o);
            }
        }
        for (f, v) in values.iter().filter(|(f, v)| f.unique && !v.is_null()) {
            if records::find_duplicate(tx, entity, f, v, self_id).await?.is_some() {
                errors.push(FieldError::new(f.name.clone(), FieldCode::Unique, UNIQUE_VALUE));
            }
        }
        errors.extend(unique_index_errors(tx, entity, values, current).await?);
        Ok(errors)
    }

    /// Learns in `refs`, with one statement per related entity and one for users, which of the
    /// records and users a batch of rows refers to exist (and, for records, lie in the caller's
    /// read scope, as [`Engine::may_read`] asks), so checking each row asks the database nothing.
    /// What is not found stays unknown: the row's own check answers it.
    pub(super) async fn learn_references<C: trellis_store::Reads>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        rows: &[Prepared<'_>],
        refs: &RefMemo,
    ) -> Result<(), Error> {
        let mut records: std::collections::BTreeMap<&str, std::collections::BTreeSet<&str>> = Default::default();
        let mut users: std::collections::BTreeSet<&str> = Default::default();
        for p in rows {
            for (f, v) in &p.values {
                let Val::Text(id) = v else { continue };
                match (f.kind, f.target.as_deref()) {
                    (FieldType::Relation, Some(target)) => {
                        records.entry(target).or_default().insert(id.as_str());
                    }
                    (FieldType::User, _) => {
                        users.insert(id.as_str());
                    }
                    _ => {}
                }
            }
            if let Some(Some(owner)) = &p.owner {
                users.insert(owner.as_str());
            }
        }
        for (name, ids) in records {
            let Some(target) = app.entity(name) else { continue };
            let unknown: Vec<String> = ids
                .into_iter()
                .filter(|id| !refs.knows(target.name(), id))
                .map(str::to_string)
                .collect();
            if unknown.is_empty() {
                continue;
            }
            let access = self.access(tx, ctx, app, target).await?;
            if access.require(Right::Read).is_err() {
                continue;
            }
            let scope = self.scope(tx, ctx, &access, Right::Read).await?;
            for id in crate::access::ids_in_scope(tx, target, &unknown, scope.as_ref()).await? {
                refs.learn(target.name(), &id);
            }
        }
        let unknown: Vec<String> = users
            .into_iter()
            .filter(|id| !refs.knows("", id))
            .map(str::to_string)
            .collect();
        if !unknown.is_empty() {
            for id in system::existing_user_ids(tx, ctx.tenant_id(), &unknown).await? {
                refs.learn("", &id);
            }
        }
        Ok(())
    }

    /// Whether the caller may read the record `id` of `target`: it exists and lies in the
    /// caller's read scope of that entity. A relation may only point at such a record, so a
    /// record the caller cannot see answers exactly like an id that does not exist (and its
    /// owner is not left unable to delete it).
    pub(super) async fn may_read<C: trellis_store::Reads>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        target: &Arc<CompiledEntity>,
        id: &str,
    ) -> Result<bool, Error> {
        let access = self.access(tx, ctx, app, target).await?;
        if access.require(Right::Read).is_err() {
            return Ok(false);
        }
        let scope = self.scope(tx, ctx, &access, Right::Read).await?;
        Ok(get_scoped(tx, target, id, scope.as_ref(), None).await?.is_some())
    }

    /// Runs the entity's scripts on a write (formulas, then required_if and validation rules),
    /// with the related records they read, then the fields' conditions ([`condition_errors`],
    /// `hidden`: the writer's hidden fields); answers the computed formula values.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn run_scripts<'e, C: trellis_store::Reads>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &'e CompiledEntity,
        record: &[(&CompiledField, &Val)],
        old: Option<&[(&CompiledField, &Val)]>,
        hidden: &std::collections::HashSet<String>,
    ) -> Result<Vec<(&'e CompiledField, Val)>, WriteError> {
        let Some(scripts) = app.scripts_of(entity.name()) else {
            return Ok(Vec::new());
        };
        let related = scripts.related_records(tx, app, entity, record).await?;
        let user = if scripts.reads_user {
            self.script_user(tx, ctx, app).await?
        } else {
            // No script reads `user`: its roles and team are not looked up.
            trellis_rules::UserInfo {
                id: ctx.user_id().to_string(),
                roles: Vec::new(),
                team: None,
            }
        };
        let user_id = user.id.clone();
        let mut outcome = crate::compiled::scripts::run(&self.rules, scripts, entity, record, old, related, user)?;
        let computed = outcome
            .computed
            .into_iter()
            .map(|(name, v)| {
                let f = entity
                    .column(&name)
                    .ok_or_else(|| WriteError::Other(Error::internal("formula field vanished")))?;
                Ok((f, v))
            })
            .collect::<Result<Vec<_>, WriteError>>()?;
        if !scripts.conditions.is_empty() {
            // The record as written: formulas' results in place of what was sent.
            let mut written: Vec<(&CompiledField, &Val)> = record
                .iter()
                .filter(|(f, _)| !computed.iter().any(|(c, _)| c.name == f.name))
                .copied()
                .collect();
            written.extend(computed.iter().map(|(f, v)| (*f, v)));
            condition_errors(
                entity,
                &scripts.conditions,
                &written,
                &user_id,
                hidden,
                &mut outcome.errors,
            )?;
        }
        if !outcome.errors.is_empty() {
            return Err(WriteError::Fields(outcome.errors));
        }
        Ok(computed)
    }
}
