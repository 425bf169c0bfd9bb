//! The record write path and reads. A write coerces and checks every value, then in one
//! transaction numbers, checks relations and uniqueness, writes the row and commits; a failed
//! request writes nothing.

pub mod history;
pub mod rollups;
pub mod stats;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};
use trellis_core::autonumber::AutoFormat;
use trellis_core::def::{AppDef, EntityDef, FieldType};
use trellis_core::permissions::{HiddenFields, Right, script_reads_hidden};
use trellis_core::query::{Filter, decode_cursor, encode_cursor, parse_fields, parse_filter, parse_sort};
use trellis_core::status::EventKind;
use trellis_core::{CompiledApp, CompiledEntity, CompiledField, Error, ErrorCode, FieldError, Val};
use trellis_store::records::{self, ListQuery, NewMeta, Row};
use trellis_store::{StoreError, system};

use crate::Engine;
use crate::access::{Access, get_scoped};
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;

/// Most operations one bulk request may hold.
pub const MAX_BULK: usize = 1000;
/// Largest page.
pub const MAX_LIMIT: u64 = 1000;
/// How often a write transaction is tried when PostgreSQL keeps aborting it for contention.
pub const WRITE_ATTEMPTS: usize = 3;
/// Most words a search `q` may have (each is looked for in every text field).
pub const MAX_SEARCH_WORDS: usize = 16;
/// Largest `offset` (both databases take a signed 64-bit offset).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// A record as answered, with its version for the ETag.
#[derive(Debug, Clone)]
pub struct RecordOut {
    pub json: Value,
    pub version: i64,
}

/// Query parameters of a list, as strings from the URL.
#[derive(Debug, Clone, Default)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort: Option<String>,
    pub fields: Option<String>,
    pub expand: Option<String>,
    pub q: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    pub offset: Option<u64>,
    pub count: bool,
}

/// A page of records. Serialised straight from the rows (no intermediate JSON tree) unless
/// relations were expanded.
#[derive(Debug, Serialize)]
pub struct ListOut {
    pub data: Page,
    pub next_cursor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

/// The records of a page.
#[derive(Debug)]
pub enum Page {
    Rows(Arc<CompiledEntity>, Vec<Row>),
    Expanded(Vec<Value>),
}

impl Serialize for Page {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        match self {
            Page::Expanded(v) => v.serialize(s),
            Page::Rows(e, rows) => {
                let mut seq = s.serialize_seq(Some(rows.len()))?;
                for r in rows {
                    seq.serialize_element(&RecordView { entity: e, row: r })?;
                }
                seq.end()
            }
        }
    }
}

/// A row serialised as its answer form, the same as [`record_json`] without building it.
struct RecordView<'a> {
    entity: &'a CompiledEntity,
    row: &'a Row,
}

impl Serialize for RecordView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        for (c, v) in self.entity.columns.iter().zip(&self.row.values) {
            if let Some(v) = v {
                m.serialize_entry(&c.name, &ValView { field: c, val: v })?;
            }
        }
        m.end()
    }
}

struct ValView<'a> {
    field: &'a CompiledField,
    val: &'a Val,
}

impl Serialize for ValView<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.val {
            Val::Null => s.serialize_none(),
            Val::Text(t) => s.serialize_str(t),
            Val::Int(i) => s.serialize_i64(*i),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::DateTime(t) => match trellis_core::value::datetime_text(t) {
                Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or_default()),
                None => s.collect_str(&t.format("%Y-%m-%dT%H:%M:%S%.6fZ")),
            },
            Val::Date(d) => match trellis_core::value::date_text(d) {
                Some(b) => s.serialize_str(std::str::from_utf8(&b).unwrap_or_default()),
                None => s.collect_str(&d.format("%Y-%m-%d")),
            },
            // Numbers and JSON as `Val::to_json` writes them, so both paths answer alike.
            other => other.to_json(self.field).serialize(s),
        }
    }
}

/// What a write may touch: the caller's access to the entity and the row scope of the right.
pub(crate) struct Guard {
    pub access: Access,
    pub scope: Option<Filter>,
}

/// Values of a write after coercion, before the transaction.
#[derive(Clone)]
pub(crate) struct Prepared<'e> {
    values: Vec<(&'e CompiledField, Val)>,
    owner: Option<Option<String>>,
}

pub(crate) fn entity_of<'a>(app: &'a CompiledApp, name: &str) -> Result<&'a Arc<CompiledEntity>, Error> {
    app.entity(name).ok_or_else(|| {
        Error::not_found(format!(
            "entity '{}' does not exist",
            trellis_core::names::truncate(name, 64)
        ))
    })
}

pub(crate) fn check_id(id: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| Error::not_found("no such record"))
}

/// A JSON number that is a whole number, however written (`3` or `3.0`: JSON Schema's
/// `integer` takes both).
fn whole_number(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| {
        v.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_991.0)
            .map(|f| f as i64)
    })
}

fn is_empty(v: &Val) -> bool {
    match v {
        Val::Null => true,
        Val::Text(s) => s.trim().is_empty(),
        Val::Json(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

fn required_error(f: &CompiledField) -> FieldError {
    FieldError::new(f.name.clone(), "required", "is required")
}

/// The message of a `unique` error of a field declared `unique` (an index's names its fields).
const UNIQUE_VALUE: &str = "another record has this value";

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
fn depends_on_hidden(app: &AppDef, entity: &EntityDef, hidden: &HiddenFields, e: &FieldError) -> bool {
    let own = hidden.get(entity.name.as_str());
    let is_hidden = |f: &str| own.is_some_and(|h| h.contains(f));
    let reads = |s: &str| script_reads_hidden(app, entity, hidden, s);
    let required_if_reads = |f: &str| {
        entity
            .field(f)
            .and_then(|d| d.required_if.as_deref())
            .is_some_and(reads)
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
fn veil_errors(
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
fn veil_list(app: &AppDef, entity: &EntityDef, hidden: &HiddenFields, errors: Vec<FieldError>) -> Vec<FieldError> {
    veil_errors(app, entity, hidden, &errors).unwrap_or(errors)
}

/// The answer form of a row: system fields, then the entity's fields in definition order.
pub fn record_json(entity: &CompiledEntity, row: &Row) -> Value {
    let mut m = Map::with_capacity(entity.columns.len());
    for (c, v) in entity.columns.iter().zip(&row.values) {
        if let Some(v) = v {
            m.insert(c.name.clone(), v.to_json(c));
        }
    }
    Value::Object(m)
}

fn system_val(meta: &NewMeta, name: &str) -> Val {
    let opt = |s: &Option<String>| s.clone().map(Val::Text).unwrap_or(Val::Null);
    match name {
        "id" => Val::Text(meta.id.clone()),
        "created_at" | "updated_at" => Val::DateTime(meta.at),
        "created_by" => opt(&meta.created_by),
        "owner" => opt(&meta.owner),
        "version" => Val::Int(1),
        _ => Val::Null,
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
            return Err(vec![FieldError::new("$", "type", "the body must be a JSON object")]);
        };
        let mut errors = Vec::new();
        let mut values = Vec::new();
        let mut owner = None;
        for (k, v) in obj {
            let Some(f) = entity.column(k) else {
                errors.push(FieldError::new(
                    trellis_core::names::truncate(k, 64),
                    "unknown_field",
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
                            "use_transition",
                            "the stage changes only through POST .../{id}/transition",
                        ));
                    } else if !same {
                        errors.push(FieldError::new(k.clone(), "read_only", "is set by Trellis"));
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
                    errors.push(FieldError::new(k.clone(), "read_only", why));
                }
                continue;
            }
            match f.coerce(v) {
                Ok(val) => {
                    if f.required && is_empty(&val) {
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
                if f.required && is_empty(&val) {
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
    async fn check_references<C: trellis_store::Reads>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        values: &mut [(&CompiledField, Val)],
        owner: Option<&str>,
        current: Option<&records::Row>,
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
                    if !self.may_read(tx, ctx, app, target, id).await? {
                        errors.push(FieldError::new(
                            f.name.clone(),
                            "not_found",
                            format!("no '{}' record has id {id}", target.name()),
                        ));
                    }
                }
                FieldType::User
                    if system::existing_user_ids(tx, ctx.tenant_id(), std::slice::from_ref(id))
                        .await?
                        .is_empty() =>
                {
                    errors.push(FieldError::new(
                        f.name.clone(),
                        "not_found",
                        format!("no user has id {id}"),
                    ));
                }
                _ => {}
            }
        }
        if let Some(o) = owner
            && system::existing_user_ids(tx, ctx.tenant_id(), &[o.to_string()])
                .await?
                .is_empty()
        {
            errors.push(FieldError::new("owner", "not_found", format!("no user has id {o}")));
        }
        for (f, v) in values.iter().filter(|(f, v)| f.unique && !v.is_null()) {
            if records::find_duplicate(tx, entity, f, v, self_id).await?.is_some() {
                errors.push(FieldError::new(f.name.clone(), "unique", UNIQUE_VALUE));
            }
        }
        errors.extend(unique_index_errors(tx, entity, values, current).await?);
        Ok(errors)
    }

    /// Whether the caller may read the record `id` of `target`: it exists and lies in the
    /// caller's read scope of that entity. A relation may only point at such a record, so a
    /// record the caller cannot see answers exactly like an id that does not exist (and its
    /// owner is not left unable to delete it).
    async fn may_read<C: trellis_store::Reads>(
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

    async fn number<'e, C: trellis_store::Writes>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        entity: &'e CompiledEntity,
        at: &chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(&'e CompiledField, Val)>, Error> {
        let mut out = Vec::new();
        for f in entity.fields().filter(|f| f.kind == FieldType::AutoNumber) {
            let fmt = AutoFormat::parse(f.format.as_deref().unwrap_or("{00000}")).map_err(Error::internal)?;
            let scope = format!("{}:{}:{}:{}", ctx.tenant_id(), entity.table, f.column, fmt.period(at));
            let n = records::next_counter(tx, &scope).await?;
            out.push((f, Val::Text(fmt.render(n, at))));
        }
        Ok(out)
    }

    /// Runs the entity's scripts on a write (formulas, then required_if and validation rules),
    /// with the related records they read; answers the computed formula values.
    async fn run_scripts<'e, C: trellis_store::Reads>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &'e CompiledEntity,
        record: &[(&CompiledField, &Val)],
        old: Option<&[(&CompiledField, &Val)]>,
    ) -> Result<Vec<(&'e CompiledField, Val)>, Result<Vec<FieldError>, Error>> {
        let Some(scripts) = app.scripts_of(entity.name()) else {
            return Ok(Vec::new());
        };
        let related = scripts.related_records(tx, app, entity, record).await.map_err(Err)?;
        let user = if scripts.reads_user {
            self.script_user(tx, ctx, app).await.map_err(Err)?
        } else {
            // No script reads `user`: its roles and team are not looked up.
            trellis_rules::UserInfo {
                id: ctx.user_id().to_string(),
                roles: Vec::new(),
                team: None,
            }
        };
        let outcome =
            crate::compiled::scripts::run(&self.rules, scripts, entity, record, old, related, user).map_err(Err)?;
        if !outcome.errors.is_empty() {
            return Err(Ok(outcome.errors));
        }
        outcome
            .computed
            .into_iter()
            .map(|(name, v)| {
                let f = entity
                    .column(&name)
                    .ok_or_else(|| Err(Error::internal("formula field vanished")))?;
                Ok((f, v))
            })
            .collect()
    }

    pub(crate) async fn insert_in<C: trellis_store::Writes>(
        &self,
        tx: &C,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &Guard,
        prepared: Prepared<'_>,
    ) -> Result<RecordOut, Result<Vec<FieldError>, Error>> {
        let meta = NewMeta {
            id: uuid::Uuid::now_v7().to_string(),
            at: trellis_core::value::now_micros(),
            created_by: Some(ctx.user_id().to_string()),
            owner: Some(
                prepared
                    .owner
                    .clone()
                    .flatten()
                    .unwrap_or_else(|| ctx.user_id().to_string()),
            ),
        };
        let mut prepared = prepared;
        let computed = {
            let record: Vec<(&CompiledField, &Val)> = prepared.values.iter().map(|(f, v)| (*f, v)).collect();
            self.run_scripts(tx, ctx, app, entity, &record, None).await?
        };
        prepared.values.extend(computed);
        let owner_check = prepared.owner.as_ref().and_then(|o| o.as_deref());
        let errors = self
            .check_references(tx, ctx, app, entity, &mut prepared.values, owner_check, None)
            .await
            .map_err(Err)?;
        if !errors.is_empty() {
            return Err(Ok(errors));
        }
        let mut values = prepared.values;
        values.extend(self.number(tx, ctx, entity, &meta.at).await.map_err(Err)?);
        values.extend(crate::records::rollups::initial_values(entity));
        // A record of an entity with a pipeline starts in its initial stage, with that stage's SLA.
        let entry = match &entity.def.pipeline {
            Some(p) => {
                let stage = p.initial_stage();
                let due = crate::pipelines::sla_due(tx, ctx.tenant_id(), stage, meta.at)
                    .await
                    .map_err(Err)?;
                values.extend(crate::pipelines::entry_values(entity, stage.key.as_str(), meta.at, due).map_err(Err)?);
                Some((stage.key.to_string(), due))
            }
            None => None,
        };
        records::insert(tx, entity, &meta, &values)
            .await
            .map_err(|e| Err(unique_to_conflict(e)))?;
        // The new record must be one the creator may create (and so read): read it back through
        // the scope inside the transaction; outside, the caller's error rolls everything back.
        ensure_in_scope(tx, entity, guard, Right::Create, &meta.id, None)
            .await
            .map_err(Err)?;
        if let Some((stage, due)) = &entry {
            crate::pipelines::start_timer(tx, ctx.tenant_id(), app, entity, &meta.id, stage, *due)
                .await
                .map_err(Err)?;
        }
        let data = match &entry {
            Some((stage, _)) => serde_json::json!({ "stage": stage }),
            None => serde_json::json!({}),
        };
        crate::records::history::record_event(
            tx,
            crate::records::history::EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: &meta.id,
                kind: EventKind::Created,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data,
            },
        )
        .await
        .map_err(Err)?;
        crate::records::rollups::after_write(tx, app, entity, None, Some(&values))
            .await
            .map_err(Err)?;
        let by_name: HashMap<&str, &Val> = values.iter().map(|(f, v)| (f.name.as_str(), v)).collect();
        let row = Row {
            values: entity
                .columns
                .iter()
                .map(|c| {
                    Some(if c.system && !by_name.contains_key(c.name.as_str()) {
                        system_val(&meta, &c.name)
                    } else {
                        by_name.get(c.name.as_str()).map(|v| (*v).clone()).unwrap_or(Val::Null)
                    })
                })
                .collect(),
        };
        Ok(RecordOut {
            json: record_json(entity, &row),
            version: 1,
        })
    }

    /// Creates a record.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity))]
    pub async fn create_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        body: &Value,
    ) -> Result<RecordOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let guard = self.guard(ctx, &app, entity, Right::Create).await?;
        guard.access.check_body(body, None)?;
        let prepared = match self.prepare(entity, body, None) {
            Ok(p) => p,
            Err(errors) => return Err(self.veiled(ctx, &app, entity, Error::validation(errors)).await),
        };
        // The record and its `created` event commit together.
        let (app_ref, guard_ref, prepared) = (&app, &guard, &prepared);
        let written = self
            .retry_contended(|| async move {
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                let out = self
                    .insert_in(&tx, ctx, app_ref, entity, guard_ref, prepared.clone())
                    .await
                    .map_err(flatten)?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(out)
            })
            .await;
        let mut out = match written {
            Ok(out) => out,
            Err(e) => return Err(self.veiled(ctx, &app, entity, e).await),
        };
        self.wake_dispatcher_for(&app);
        guard.access.redact(&mut out.json);
        Ok(out)
    }

    /// Reads one record, with `fields` and `expand` as in a list.
    pub async fn get_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        fields: Option<&str>,
        expand: Option<&str>,
    ) -> Result<RecordOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let id = check_id(id)?;
        let access = self.access(&self.db.read, ctx, &app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        let entity = &access.view;
        let wanted = wanted_columns(entity, fields)?;
        let expand = parse_expand(entity, expand)?;
        let row = get_scoped(&self.db.read, entity, &id, scope.as_ref(), wanted.as_deref())
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        let version = row.version();
        let mut json = vec![record_json(entity, &row)];
        self.expand(ctx, &app, entity, &expand, &mut json).await?;
        Ok(RecordOut {
            json: json.pop().unwrap_or(Value::Null),
            version,
        })
    }

    /// Updates the given fields of a record; `if_match` is the version the client read.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn update_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<RecordOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let id = check_id(id)?;
        let guard = self.guard(ctx, &app, entity, Right::Update).await?;
        let (app_ref, guard_ref, id) = (&app, &guard, &id);
        let written = self
            .retry_contended(|| async move {
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                let out = self
                    .update_in(&tx, ctx, app_ref, entity, guard_ref, id, body, if_match)
                    .await
                    .map_err(flatten)?;
                tx.commit().await.map_err(StoreError::from)?;
                Ok(out)
            })
            .await;
        let out = match written {
            Ok(out) => out,
            Err(e) => return Err(self.veiled(ctx, &app, entity, e).await),
        };
        self.wake_dispatcher_for(&app);
        Ok(out)
    }

    /// A failed write of the caller's as they may read it ([`veil`]): the fields hidden from
    /// them are looked up only when a write fails.
    async fn veiled(&self, ctx: &TenantCtx, app: &LoadedApp, entity: &CompiledEntity, e: Error) -> Error {
        if !matches!(e.code, ErrorCode::ValidationFailed | ErrorCode::ScriptError) {
            return e;
        }
        match self.hidden_fields(&self.db.read, ctx, app).await {
            Ok(hidden) => veil(&app.def, &entity.def, &hidden, e),
            Err(failed) => failed,
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn update_in(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &Guard,
        id: &str,
        body: &Value,
        if_match: Option<i64>,
    ) -> Result<RecordOut, Result<Vec<FieldError>, Error>> {
        let current = crate::access::get_scoped_for_write(tx, entity, id, guard.scope.as_ref())
            .await
            .map_err(Err)?
            .ok_or_else(|| Err(Error::not_found("no such record")))?;
        // The body's own checks come before the precondition (RFC 9110, 13.2.1): a malformed
        // body answers 422 whatever `If-Match` says.
        guard.access.check_body(body, Some(&current)).map_err(Err)?;
        let mut prepared = self.prepare(entity, body, Some(&current)).map_err(Ok)?;
        if let Some(v) = if_match
            && v != current.version()
        {
            return Err(Err(stale(current.version())));
        }
        let computed = if app.scripts_of(entity.name()).is_some() {
            // `record` is the record as it will be; `old` as it is stored.
            let old: Vec<(&CompiledField, &Val)> = entity
                .columns
                .iter()
                .zip(&current.values)
                .filter(|(c, _)| !c.system)
                .filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
                .collect();
            let record: Vec<(&CompiledField, &Val)> = old
                .iter()
                .map(|(c, v)| {
                    (
                        *c,
                        prepared
                            .values
                            .iter()
                            .find(|(f, _)| f.name == c.name)
                            .map_or(*v, |(_, nv)| nv),
                    )
                })
                .collect();
            self.run_scripts(tx, ctx, app, entity, &record, Some(&old)).await?
        } else {
            Vec::new()
        };
        prepared.values.extend(computed);
        let owner_check = prepared.owner.as_ref().and_then(|o| o.as_deref());
        let errors = self
            .check_references(tx, ctx, app, entity, &mut prepared.values, owner_check, Some(&current))
            .await
            .map_err(Err)?;
        if !errors.is_empty() {
            return Err(Ok(errors));
        }
        let at = trellis_core::value::now_micros();
        let updated = records::update(
            tx,
            entity,
            id,
            Some(current.version()),
            at,
            prepared.owner.clone(),
            &prepared.values,
        )
        .await
        .map_err(|e| Err(unique_to_conflict(e)))?;
        if !updated {
            return Err(Err(stale(current.version())));
        }
        // A write may not move the record out of the writer's scope (a new owner, a value the
        // scope's filter names): read it back through the scope inside the transaction.
        let sent: Vec<String> = body
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        ensure_in_scope(tx, entity, guard, Right::Update, id, Some(&sent))
            .await
            .map_err(Err)?;
        let mut changed = crate::records::history::changes(entity, &current, &prepared.values);
        if let (Some(o), Value::Object(m)) = (&prepared.owner, &mut changed) {
            let before = current.get(entity, "owner").and_then(|v| match v {
                Val::Text(s) => Some(s.clone()),
                _ => None,
            });
            if &before != o {
                m.insert("owner".into(), serde_json::json!([before, o]));
            }
        }
        crate::records::history::record_event(
            tx,
            crate::records::history::EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: id,
                kind: EventKind::Updated,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: serde_json::json!({ "changes": changed }),
            },
        )
        .await
        .map_err(Err)?;
        crate::records::rollups::after_write(tx, app, entity, Some(&current), Some(&prepared.values))
            .await
            .map_err(Err)?;
        let mut row = current;
        for (i, c) in entity.columns.iter().enumerate() {
            let new = match c.name.as_str() {
                "updated_at" => Some(Val::DateTime(at)),
                "version" => Some(Val::Int(row.version() + 1)),
                "owner" => prepared.owner.clone().map(|o| o.map(Val::Text).unwrap_or(Val::Null)),
                _ => prepared
                    .values
                    .iter()
                    .find(|(f, _)| f.name == c.name)
                    .map(|(_, v)| v.clone()),
            };
            if let Some(v) = new {
                row.values[i] = Some(v);
            }
        }
        let version = row.version();
        let mut json = record_json(entity, &row);
        guard.access.redact(&mut json);
        Ok(RecordOut { json, version })
    }

    /// Deletes a record; refused while records of a relation point at it.
    pub async fn delete_record(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let id = check_id(id)?;
        let guard = self.guard(ctx, &app, entity, Right::Delete).await?;
        let (app_ref, guard_ref, id) = (&app, &guard, &id);
        self.retry_contended(|| async move {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            self.delete_in(&tx, ctx, app_ref, entity, guard_ref, id, if_match)
                .await?;
            tx.commit().await.map_err(StoreError::from)?;
            Ok(())
        })
        .await?;
        self.wake_dispatcher_for(&app);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn delete_in(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        guard: &Guard,
        id: &str,
        if_match: Option<i64>,
    ) -> Result<(), Error> {
        // The whole record goes into its `deleted` event (the audit trail keeps what was lost).
        let current = crate::access::get_scoped_for_write(tx, entity, id, guard.scope.as_ref())
            .await?
            .ok_or_else(|| Error::not_found("no such record"))?;
        if let Some(v) = if_match
            && v != current.version()
        {
            return Err(stale(current.version()));
        }
        for (src_entity, src_field) in &entity.incoming {
            let src = entity_of(app, src_entity.as_str())?;
            let col = src
                .column(src_field.as_str())
                .ok_or_else(|| Error::internal("incoming relation field missing"))?;
            let n = records::count_referencing(tx, &src.table, &col.column, id).await?;
            if n > 0 {
                return Err(Error::conflict(format!(
                    "{n} '{src_entity}' record(s) point at this record through '{src_field}'; change or delete them first"
                )));
            }
        }
        if !records::delete(tx, entity, id, Some(current.version())).await? {
            return Err(stale(current.version()));
        }
        trellis_store::timers::cancel_for_record(tx, id, trellis_core::status::TimerKind::Sla).await?;
        crate::records::history::record_event(
            tx,
            crate::records::history::EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: id,
                kind: EventKind::Deleted,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: serde_json::json!({ "record": record_json(entity, &current) }),
            },
        )
        .await?;
        crate::records::rollups::after_write(tx, app, entity, Some(&current), None).await
    }

    /// Runs a write transaction (`run` begins and commits it) again, up to
    /// [`WRITE_ATTEMPTS`] times in all, when PostgreSQL aborted it for a deadlock or a
    /// serialization failure; the client sees only the outcome. A deadlock needs writers locking
    /// in different orders, which the write path avoids where it can (records and rollup
    /// parents in id order); this covers the orders it cannot fix (rules, several entities).
    pub(crate) async fn retry_contended<T, F, Fut>(&self, mut run: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let mut attempt = 1;
        loop {
            match run().await {
                Err(e) if attempt < WRITE_ATTEMPTS && trellis_store::error::is_contention(&e) => {
                    // A short, growing pause lets the transaction that won finish first.
                    let ms = 5 * attempt as u64 + rand::random_range(0..10u64);
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// The caller's access to an entity with the row scope of a right (403 without it).
    pub(crate) async fn guard(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &Arc<CompiledEntity>,
        right: Right,
    ) -> Result<Guard, Error> {
        let access = self.access(&self.db.read, ctx, app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, right).await?;
        Ok(Guard { access, scope })
    }

    /// Creates, updates and deletes in one transaction: all or nothing. Errors name the operation
    /// (`create[2].amount`).
    pub async fn bulk(&self, ctx: &TenantCtx, app: &str, entity: &str, body: &Value) -> Result<Value, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let obj = body
            .as_object()
            .ok_or_else(|| Error::bad_request("the body must be a JSON object with create, update and delete"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "create" | "update" | "delete"))
        {
            return Err(Error::bad_field(
                trellis_core::names::truncate(k, 40),
                "unknown_key",
                "bulk takes create, update and delete",
            ));
        }
        let list = |k: &str| -> Result<Vec<Value>, Error> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => Ok(a.clone()),
                Some(_) => Err(Error::bad_field(k, "type", "must be an array")),
            }
        };
        let (creates, updates, deletes) = (list("create")?, list("update")?, list("delete")?);
        if creates.len() + updates.len() + deletes.len() > MAX_BULK {
            return Err(Error::new(
                ErrorCode::PayloadTooLarge,
                format!("a bulk request holds at most {MAX_BULK} operations"),
            ));
        }
        let create_guard = if creates.is_empty() {
            None
        } else {
            Some(self.guard(ctx, &app, entity, Right::Create).await?)
        };
        let update_guard = if updates.is_empty() {
            None
        } else {
            Some(self.guard(ctx, &app, entity, Right::Update).await?)
        };
        let delete_guard = if deletes.is_empty() {
            None
        } else {
            Some(self.guard(ctx, &app, entity, Right::Delete).await?)
        };
        // Problems of each operation are veiled as those of a single write ([`veil`]).
        let hidden = self.hidden_fields(&self.db.read, ctx, &app).await?;
        let (def, edef) = (&app.def, &entity.def);
        let mut errors: Vec<FieldError> = Vec::new();
        let mut prepared = Vec::with_capacity(creates.len());
        for (i, c) in creates.iter().enumerate() {
            let Some(guard) = &create_guard else { break };
            if let Err(e) = guard.access.check_body(c, None) {
                return Err(prefix_error(e, &format!("create[{i}]")));
            }
            match self.prepare(entity, c, None) {
                Ok(p) => prepared.push(p),
                Err(es) => errors.extend(
                    veil_list(def, edef, &hidden, es)
                        .into_iter()
                        .map(|e| e.prefixed(&format!("create[{i}]"))),
                ),
            }
        }
        let mut update_ops = Vec::with_capacity(updates.len());
        for (i, u) in updates.iter().enumerate() {
            let at = format!("update[{i}]");
            let Some(o) = u.as_object() else {
                errors.push(FieldError::new(at, "type", "must be an object with an id"));
                continue;
            };
            let Some(id) = o.get("id").and_then(Value::as_str).and_then(|s| check_id(s).ok()) else {
                errors.push(FieldError::new(
                    format!("{at}.id"),
                    "required",
                    "needs the id of the record",
                ));
                continue;
            };
            let version = match o.get("version") {
                None => None,
                Some(v) => match whole_number(v) {
                    Some(n) => Some(n),
                    None => {
                        errors.push(FieldError::new(format!("{at}.version"), "type", "must be an integer"));
                        continue;
                    }
                },
            };
            let mut fields = o.clone();
            fields.remove("id");
            fields.remove("version");
            update_ops.push((i, id, version, Value::Object(fields)));
        }
        let mut delete_ids = Vec::with_capacity(deletes.len());
        for (i, d) in deletes.iter().enumerate() {
            let id = d
                .as_str()
                .or_else(|| d.get("id").and_then(Value::as_str))
                .and_then(|s| check_id(s).ok());
            match id {
                Some(id) => delete_ids.push((i, id, d.get("version").and_then(whole_number))),
                None => errors.push(FieldError::new(format!("delete[{i}]"), "type", "must be a record id")),
            }
        }
        if !errors.is_empty() {
            return Err(Error::validation(errors));
        }
        let mut seen = HashSet::new();
        for (_, id, _, _) in &update_ops {
            if !seen.insert(id.clone()) {
                return Err(Error::bad_request(format!(
                    "record {id} is updated twice in one bulk request"
                )));
            }
        }

        let hidden = &hidden;
        let (app_ref, prepared, update_ops, delete_ids) = (&app, &prepared, &update_ops, &delete_ids);
        let creates = &creates;
        let (create_guard, update_guard, delete_guard) = (&create_guard, &update_guard, &delete_guard);
        let (created, updated, deleted) = self
            .retry_contended(|| async move {
                let app = app_ref;
                let mut errors: Vec<FieldError> = Vec::new();
                let tx = self.db.begin_write().await.map_err(StoreError::from)?;
                // The records updated and deleted, locked at once in id order: two bulks over
                // overlapping records wait for each other instead of deadlocking.
                let touched: Vec<String> = update_ops
                    .iter()
                    .map(|(_, id, _, _)| id.clone())
                    .chain(delete_ids.iter().map(|(_, id, _)| id.clone()))
                    .collect();
                records::lock(&tx, &entity.table, &touched).await?;
                if !entity.rollups_over.is_empty() {
                    let current = records::get_many(&tx, entity, &touched).await?;
                    let named: Vec<&Value> = creates
                        .iter()
                        .chain(update_ops.iter().map(|(_, _, _, fields)| fields))
                        .collect();
                    crate::records::rollups::lock_parents_of(&tx, app, entity, &current, &named).await?;
                }
                let mut created = Vec::with_capacity(prepared.len());
                for (i, p) in prepared.iter().cloned().enumerate() {
                    let guard = create_guard
                        .as_ref()
                        .ok_or_else(|| Error::internal("no create guard"))?;
                    match self.insert_in(&tx, ctx, app, entity, guard, p).await {
                        Ok(mut r) => {
                            guard.access.redact(&mut r.json);
                            created.push(r.json)
                        }
                        Err(Ok(es)) => errors.extend(
                            veil_list(&app.def, &entity.def, hidden, es)
                                .into_iter()
                                .map(|e| e.prefixed(&format!("create[{i}]"))),
                        ),
                        Err(Err(e)) => {
                            return Err(prefix_error(
                                veil(&app.def, &entity.def, hidden, e),
                                &format!("create[{i}]"),
                            ));
                        }
                    }
                }
                let mut updated = Vec::with_capacity(update_ops.len());
                for (i, id, version, fields) in update_ops.iter() {
                    let guard = update_guard
                        .as_ref()
                        .ok_or_else(|| Error::internal("no update guard"))?;
                    match self.update_in(&tx, ctx, app, entity, guard, id, fields, *version).await {
                        Ok(r) => updated.push(r.json),
                        Err(Ok(es)) => errors.extend(
                            veil_list(&app.def, &entity.def, hidden, es)
                                .into_iter()
                                .map(|e| e.prefixed(&format!("update[{i}]"))),
                        ),
                        Err(Err(e)) => {
                            return Err(prefix_error(
                                veil(&app.def, &entity.def, hidden, e),
                                &format!("update[{i}]"),
                            ));
                        }
                    }
                }
                if !errors.is_empty() {
                    return Err(Error::validation(errors));
                }
                let mut deleted = Vec::with_capacity(delete_ids.len());
                for (i, id, version) in delete_ids.iter() {
                    let guard = delete_guard
                        .as_ref()
                        .ok_or_else(|| Error::internal("no delete guard"))?;
                    self.delete_in(&tx, ctx, app, entity, guard, id, *version)
                        .await
                        .map_err(|e| prefix_error(e, &format!("delete[{i}]")))?;
                    deleted.push(Value::String(id.clone()));
                }
                tx.commit().await.map_err(StoreError::from)?;
                Ok((created, updated, deleted))
            })
            .await?;
        self.wake_dispatcher_for(&app);
        if created.len() + updated.len() + deleted.len() >= crate::records::stats::LARGE_WRITE {
            self.stats.refresh_soon(&self.db, &entity.table);
        }
        Ok(serde_json::json!({"created": created, "updated": updated, "deleted": deleted}))
    }

    /// A page of records.
    pub async fn list_records(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        p: &ListParams,
    ) -> Result<ListOut, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let entity = entity_of(&app, entity)?;
        let access = self.access(&self.db.read, ctx, &app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, Right::Read).await?;
        // Hidden fields are not in the view: filtering, sorting or searching them is unknown.
        let entity = &access.view;
        let filter = match p.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => {
                let v: Value = serde_json::from_str(f)
                    .map_err(|e| Error::bad_field("filter", "invalid_json", format!("is not valid JSON: {e}")))?;
                Some(parse_filter(entity, &v)?)
            }
            None => None,
        };
        // An owner scope (own, team) is a selective predicate the planner cannot see as such.
        let scope_owners: Option<Vec<String>> = scope
            .as_ref()
            .and_then(crate::access::scope_owners)
            .map(|o| o.into_iter().map(str::to_string).collect());
        // A scope of owners only goes to the list as such (`ListQuery::owners`); any other
        // joins the filter.
        let (filter, owners) = match scope_owners.clone() {
            Some(owners) => (filter, Some(owners)),
            None => (crate::access::and(scope, filter), None),
        };
        let sort = parse_sort(entity, p.sort.as_deref().unwrap_or(""))?;
        let limit = p.limit.unwrap_or(50);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::bad_field("limit", "range", format!("must be 1 to {MAX_LIMIT}")));
        }
        if p.cursor.is_some() && p.offset.is_some() {
            return Err(Error::bad_field(
                "cursor",
                "conflict",
                "use either cursor or offset, not both",
            ));
        }
        if p.offset.is_some_and(|o| o > MAX_OFFSET) {
            return Err(Error::bad_field(
                "offset",
                "range",
                format!("must be at most {MAX_OFFSET}; page with the cursor instead"),
            ));
        }
        let search = p.q.clone().filter(|s| !s.trim().is_empty());
        if search.as_deref().is_some_and(|s| s.contains('\0')) {
            return Err(Error::bad_field("q", "type", "must not contain NUL characters"));
        }
        if search
            .as_deref()
            .is_some_and(|s| s.split_whitespace().count() > MAX_SEARCH_WORDS)
        {
            return Err(Error::bad_field(
                "q",
                "too_many",
                format!("search for at most {MAX_SEARCH_WORDS} words"),
            ));
        }
        let cursor = p.cursor.as_deref().map(|c| decode_cursor(&sort, c)).transpose()?;
        let expand = parse_expand(entity, p.expand.as_deref())?;
        let answered = wanted_columns(entity, p.fields.as_deref())?;
        // The sort keys are read even when `fields` leaves them out: the next cursor needs them.
        let read = answered.as_ref().map(|w| {
            let mut r = w.clone();
            for k in &sort {
                if let Some(i) = entity.columns.iter().position(|c| c.name == k.field.name)
                    && !r.contains(&i)
                {
                    r.push(i);
                }
            }
            r
        });
        let mut q = ListQuery {
            filter,
            search,
            sort: sort.clone(),
            cursor,
            offset: p.offset,
            limit: limit + 1,
            columns: read,
            filter_first: false,
            owners,
        };
        // A scope of a few owners is read in a branch per owner (`ListQuery::owners`): each walks
        // its owner's rows in an owner-keyed index, so it never reads more than the scope, which
        // is what reading the scope first guards against, and usually far less.
        if let Some(owners) = &scope_owners
            && !records::reads_in_branches(entity, &q)
        {
            q.filter_first = self
                .reads_scope_first(&entity.table, owners, limit + 1 + p.offset.unwrap_or(0))
                .await;
        }
        let mut rows = records::list(&self.db.read, entity, &q).await?;
        let next_cursor = if rows.len() as u64 > limit {
            rows.truncate(limit as usize);
            rows.last().map(|last| {
                let vals: Vec<Val> = sort
                    .iter()
                    .map(|k| last.get(entity, &k.field.name).cloned().unwrap_or(Val::Null))
                    .collect();
                encode_cursor(&sort, &vals, last.id())
            })
        } else {
            None
        };
        if let Some(w) = &answered {
            for r in &mut rows {
                for (i, c) in entity.columns.iter().enumerate() {
                    if !c.system && !w.contains(&i) {
                        r.values[i] = None;
                    }
                }
            }
        }
        let total = if p.count {
            Some(records::count(&self.db.read, entity, &q).await?)
        } else {
            None
        };
        let data = if expand.is_empty() {
            Page::Rows(entity.clone(), rows)
        } else {
            let mut data: Vec<Value> = rows.iter().map(|r| record_json(entity, r)).collect();
            self.expand(ctx, &app, entity, &expand, &mut data).await?;
            Page::Expanded(data)
        };
        Ok(ListOut {
            data,
            next_cursor,
            total,
        })
    }

    /// Replaces relation ids with the related records (one query per expanded field).
    async fn expand(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        fields: &[String],
        data: &mut [Value],
    ) -> Result<(), Error> {
        for name in fields {
            let f = entity
                .column(name)
                .ok_or_else(|| Error::internal("expand field vanished"))?;
            let target = f
                .target
                .as_deref()
                .and_then(|t| app.entity(t))
                .ok_or_else(|| Error::internal("relation without target"))?;
            let ids: Vec<String> = data
                .iter()
                .filter_map(|r| r.get(name).and_then(Value::as_str).map(str::to_string))
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            // Related records outside the caller's reach of the target expand to null.
            let access = self.access(&self.db.read, ctx, app, target).await?;
            let rows = if access.grant.reach(Right::Read).is_none() {
                Vec::new()
            } else {
                match self.scope(&self.db.read, ctx, &access, Right::Read).await? {
                    None => records::get_many(&self.db.read, &access.view, &ids).await?,
                    Some(scope) => crate::access::get_many_scoped(&self.db.read, &access.view, &ids, &scope).await?,
                }
            };
            let target = &access.view;
            let by_id: HashMap<String, Value> = rows
                .iter()
                .map(|r| (r.id().to_string(), record_json(target, r)))
                .collect();
            for r in data.iter_mut() {
                if let Some(slot) = r.get_mut(name.as_str())
                    && let Some(id) = slot.as_str()
                {
                    *slot = by_id.get(id).cloned().unwrap_or(Value::Null);
                }
            }
        }
        Ok(())
    }
}

fn wanted_columns(entity: &CompiledEntity, fields: Option<&str>) -> Result<Option<Vec<usize>>, Error> {
    let Some(f) = fields.filter(|f| !f.trim().is_empty()) else {
        return Ok(None);
    };
    let names = parse_fields(entity, f)?;
    Ok(Some(
        entity
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| names.contains(&c.name))
            .map(|(i, _)| i)
            .collect(),
    ))
}

fn parse_expand(entity: &CompiledEntity, expand: Option<&str>) -> Result<Vec<String>, Error> {
    let Some(e) = expand.filter(|e| !e.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    let names = parse_fields(entity, e)
        .map_err(|_| Error::bad_field("expand", "unknown_field", "names a field that does not exist"))?;
    for n in &names {
        if entity
            .column(n)
            .is_none_or(|c| c.kind != FieldType::Relation || c.system)
        {
            return Err(Error::bad_field(
                "expand",
                "not_relation",
                format!("'{n}' is not a relation field"),
            ));
        }
    }
    Ok(names)
}

/// Refuses a write whose record, as written, is outside the row scope of the right the writer
/// used (403 naming the scope's fields, those the body sent first). `sent`: the fields of the
/// body of an update.
async fn ensure_in_scope<C: trellis_store::Reads>(
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
                "out_of_scope",
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

pub(crate) fn stale(current: i64) -> Error {
    Error::new(
        ErrorCode::VersionMismatch,
        format!("the record changed since it was read (it is at version {current}); read it again"),
    )
}

/// A write's values against the entity's unique declared indexes: each index whose fields the
/// write sets (a create: every index) and that then all hold a value is looked up; a match is
/// a `unique` error on each of its fields. An index naming a field hidden from the writer is
/// left to the database's constraint (409).
async fn unique_index_errors<C: trellis_store::Reads>(
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
                    "unique",
                    format!("another record has the same {}", names.join(", ")),
                ));
            }
        }
    }
    Ok(errors)
}

fn unique_to_conflict(e: StoreError) -> Error {
    if e.is_unique_violation() {
        Error::conflict("another record has the same value in a unique field (written concurrently)")
    } else {
        e.into()
    }
}

pub(crate) fn flatten(e: Result<Vec<FieldError>, Error>) -> Error {
    match e {
        Ok(errors) => Error::validation(errors),
        Err(e) => e,
    }
}

fn prefix_error(mut e: Error, prefix: &str) -> Error {
    e.errors = e.errors.into_iter().map(|x| x.prefixed(prefix)).collect();
    e.detail = format!("{prefix}: {}", e.detail);
    e
}
