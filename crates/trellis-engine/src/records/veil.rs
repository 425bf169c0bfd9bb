//! Hidden means hidden: the problems of a refused write as a writer who may not see some fields
//! reads them, never naming nor depending on a hidden value.

use std::collections::HashSet;

use trellis_core::condition::RequiredIf;
use trellis_core::def::{AppDef, EntityDef};
use trellis_core::permissions::{HiddenFields, filter_names, script_reads_hidden};
use trellis_core::{CompiledEntity, Error, ErrorCode, FieldError};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

use super::*;

/// What the unmet requirements of a write on data hidden from the writer answer as: the write
/// is refused, but neither the field nor its value is named. One such entry stands for all of
/// them (see [`veil`]).
pub fn hidden_requirement() -> FieldError {
    FieldError::new(
        "requirements",
        trellis_core::error::HIDDEN_REQUIREMENT,
        "a requirement on data you cannot see is not met",
    )
    .with_messages(trellis_core::def::Label::new(
        "一项涉及您无权查看的数据的要求未满足",
        "a requirement on data you cannot see is not met",
    ))
}

/// Whether a problem of a write names a field hidden from the writer (`hidden`, by entity) or
/// depends on one: a hidden field required or not unique, a `required_if`, a validation rule
/// (its `when`, `assert` or the field it is reported on) or a formula reading one, a unique
/// index holding one. Problems of scripts are named after what failed (`formula of 'f'`,
/// `required_if of 'f'`, `rule 'r'`).
pub(super) fn depends_on_hidden(app: &AppDef, entity: &EntityDef, hidden: &HiddenFields, e: &FieldError) -> bool {
    let own = hidden.get(entity.name.as_str());
    let is_hidden = |f: &str| own.is_some_and(|h| h.contains(f));
    let reads = |s: &str| script_reads_hidden(app, entity, hidden, s);
    // A requirement on a field depends on what its conditions read (`required_if`, and
    // `visible_if`, which lifts it).
    let required_if_reads = |f: &str| {
        entity.field(f).is_some_and(|d| {
            let by_condition = |c: &serde_json::Value| own.is_some_and(|h| filter_names(c, h));
            d.required_if.as_ref().is_some_and(|r| match r {
                RequiredIf::Script(s) => reads(s),
                RequiredIf::Filter(c) => by_condition(c),
            }) || d.visible_if.as_ref().is_some_and(by_condition)
        })
    };
    let rule_reads = |name: &str, field: Option<&str>| {
        entity.validations.iter().any(|r| {
            r.name.as_str() == name
                && field.is_none_or(|f| r.field.as_ref().map_or("", |x| x.as_str()) == f)
                && (r.field.as_ref().is_some_and(|f| is_hidden(f.as_str()))
                    || reads(&r.assert)
                    || r.when.as_deref().is_some_and(reads))
        })
    };
    // A hidden field a writer sends is unknown to them ([`crate::access::Access::check_body`]),
    // as if it did not exist: that answer stays.
    if e.code == "unknown_field" {
        return false;
    }
    if is_hidden(&e.field) {
        return true;
    }
    if e.code == "script_error" {
        let quoted = |prefix: &str| {
            e.field
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix('\''))
                .map(str::to_string)
        };
        if let Some(f) = quoted("formula of '") {
            return is_hidden(&f);
        }
        if let Some(f) = quoted("required_if of '") {
            return is_hidden(&f) || required_if_reads(&f);
        }
        if let Some(r) = quoted("rule '") {
            return rule_reads(&r, None);
        }
    }
    (e.code == "required" && required_if_reads(&e.field))
        || rule_reads(&e.code, Some(&e.field))
        || (e.code == "unique"
            && e.message != UNIQUE_VALUE
            && entity.indexes.iter().any(|i| {
                i.unique
                    && i.fields.iter().any(|f| f.as_str() == e.field)
                    && i.fields.iter().any(|f| is_hidden(f.as_str()))
            }))
}

/// The problems of a write as a writer who may not see `hidden` reads them: those that name or
/// depend on a hidden value ([`depends_on_hidden`]) replaced by one [`hidden_requirement`];
/// `None` when none does.
pub(super) fn veil_errors(
    app: &AppDef,
    entity: &EntityDef,
    hidden: &HiddenFields,
    errors: &[FieldError],
) -> Option<Vec<FieldError>> {
    if hidden.is_empty() || !errors.iter().any(|e| depends_on_hidden(app, entity, hidden, e)) {
        return None;
    }
    let mut out: Vec<FieldError> = errors
        .iter()
        .filter(|e| !depends_on_hidden(app, entity, hidden, e))
        .cloned()
        .collect();
    out.push(hidden_requirement());
    Some(out)
}

/// A failed write as the writer may read it: a 422 (`validation_failed`, `script_error`) whose
/// problems name or depend on a value hidden from them answers `validation_failed` with those
/// problems replaced by one [`hidden_requirement`]; errors about visible fields stay as they
/// are. Nothing is written either way.
pub(crate) fn veil(app: &AppDef, entity: &EntityDef, hidden: &HiddenFields, e: Error) -> Error {
    if !matches!(e.code, ErrorCode::ValidationFailed | ErrorCode::ScriptError) {
        return e;
    }
    match veil_errors(app, entity, hidden, &e.errors) {
        Some(errors) => Error::validation(errors),
        None => e,
    }
}

/// The fields, of any entity, that the problems of a failed write depend on beyond the fields
/// they name: those a `required_if`, a validation rule or a unique index behind one reads. A
/// rule's action names them in its error, so that a reader of the run who may not see one of
/// them reads the error veiled, as every error naming a hidden field.
pub(crate) fn problem_reads(app: &AppDef, entity: &EntityDef, errors: &[FieldError]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &app.entities {
        for f in &e.fields {
            let name = f.name.as_str();
            if out.iter().any(|x| x == name) || errors.iter().any(|x| x.field == name) {
                continue;
            }
            let one: HiddenFields = [(e.name.to_string(), HashSet::from([name.to_string()]))].into();
            if errors.iter().any(|x| depends_on_hidden(app, entity, &one, x)) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// Field problems of one operation of a bulk request, veiled as [`veil`] does.
pub(super) fn veil_list(
    app: &AppDef,
    entity: &EntityDef,
    hidden: &HiddenFields,
    errors: Vec<FieldError>,
) -> Vec<FieldError> {
    veil_errors(app, entity, hidden, &errors).unwrap_or(errors)
}

impl Engine {
    /// A failed write of the caller's as they may read it ([`veil`]): the fields hidden from
    /// them are looked up only when a write fails.
    pub(super) async fn veiled(&self, ctx: &TenantCtx, app: &LoadedApp, entity: &CompiledEntity, e: Error) -> Error {
        if !matches!(e.code, ErrorCode::ValidationFailed | ErrorCode::ScriptError) {
            return e;
        }
        match self.hidden_fields(&self.db.read, ctx, app).await {
            Ok(hidden) => veil(&app.def, &entity.def, &hidden, e),
            Err(failed) => failed,
        }
    }
}
