//! An app's scripts, compiled once per version with the one rule engine: validation rules and
//! conditional requirements per entity. A script that does not compile refuses the definition at
//! save, naming where; one that fails at run time fails the write with `script_error`.

use std::collections::HashMap;
use std::ops::Deref;
use trellis_core::error::FieldCode;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use trellis_core::def::{AppDef, ValidationRule};
use trellis_core::{CompiledApp, CompiledEntity, CompiledField, Error, ErrorCode, FieldError, Val};
use trellis_rules::{
    CompiledScript, Dynamic, RuleEngine, RuntimeError, ScriptContext, UserInfo, record_map, record_map_for,
};

use crate::context::TenantCtx;

/// A validation rule with its compiled scripts.
#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub rule: ValidationRule,
    pub when: Option<CompiledScript>,
    pub assert: CompiledScript,
}

/// The compiled scripts of one entity.
#[derive(Debug, Clone, Default)]
pub struct EntityScripts {
    pub rules: Vec<CompiledRule>,
    /// (field name, condition) of fields with `required_if`.
    pub required_if: Vec<(String, CompiledScript)>,
    /// (field name, expression) of formula fields, in dependency order.
    pub formulas: Vec<(String, CompiledScript)>,
    /// Relation fields whose records the scripts read as `related.<field>`.
    pub related: Vec<String>,
    /// The record fields any of the scripts reads (`None`: some script needs them all).
    pub reads: Option<Vec<String>>,
    /// Whether a validation, `required_if` or formula reads `user` (its roles and team are
    /// looked up on a write only then).
    pub reads_user: bool,
    /// Pipeline conditions by place: `stages.<key>.entry.<name>`, `stages.<key>.exit.<name>`,
    /// `transitions.<index>.<name>`. Run on transitions only, so not part of [`Self::is_empty`].
    pub guards: HashMap<String, CompiledScript>,
    /// Fields with a filter-language `visible_if` or `required_if` (`trellis_core::condition`),
    /// checked on every write against the record as written.
    pub conditions: Vec<String>,
}

impl EntityScripts {
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.required_if.is_empty() && self.formulas.is_empty() && self.conditions.is_empty()
    }

    /// Loads the related records the scripts read (`related.<field>`), by the relation values
    /// of the record being written; an empty relation or a missing record is `()`.
    pub async fn related_records<C: trellis_store::Reads>(
        &self,
        conn: &C,
        app: &CompiledApp,
        entity: &CompiledEntity,
        record: &[(&CompiledField, &Val)],
    ) -> Result<trellis_rules::Map, Error> {
        let mut out = trellis_rules::Map::new();
        for name in &self.related {
            let id = record.iter().find(|(f, _)| &f.name == name).and_then(|(_, v)| match v {
                Val::Text(id) => Some(id.clone()),
                _ => None,
            });
            let target = entity
                .column(name)
                .and_then(|f| f.target.as_deref())
                .and_then(|t| app.entity(t))
                .ok_or_else(|| Error::internal("relation target vanished"))?;
            let value = match id {
                None => Dynamic::UNIT,
                Some(id) => match trellis_store::records::get(conn, target, &id, None).await? {
                    None => Dynamic::UNIT,
                    Some(row) => {
                        let fields: Vec<(&CompiledField, &Val)> = target
                            .columns
                            .iter()
                            .zip(&row.values)
                            .filter(|(c, _)| !c.system || c.name == "id" || c.name == "owner")
                            .filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
                            .collect();
                        Dynamic::from_map(record_map(&fields))
                    }
                },
            };
            out.insert(name.as_str().into(), value);
        }
        Ok(out)
    }
}

/// The fields a script reads as `record.<name>` (a static reading of its text).
fn fields_read(source: &str) -> Vec<String> {
    names_after(source, "record.")
}

/// The names that follow `prefix` (`record.`, `related.`) in a script's text.
fn names_after(source: &str, prefix: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        let tail = &rest[i + prefix.len()..];
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            && !name.is_empty()
            && !out.contains(&name)
        {
            out.push(name.clone());
        }
        rest = &tail[name.len()..];
    }
    out
}

fn visit<'a>(
    name: &'a str,
    formulas: &'a HashMap<&'a str, Vec<String>>,
    path: &mut Vec<&'a str>,
    order: &mut Vec<String>,
) -> Result<(), Vec<String>> {
    if order.iter().any(|o| o == name) {
        return Ok(());
    }
    if let Some(start) = path.iter().position(|p| *p == name) {
        let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
        cycle.push(name.to_string());
        return Err(cycle);
    }
    path.push(name);
    for dep in &formulas[name] {
        if let Some((dep, _)) = formulas.get_key_value(dep.as_str()) {
            visit(dep, formulas, path, order)?;
        }
    }
    path.pop();
    order.push(name.to_string());
    Ok(())
}

/// Formula fields ordered so that each comes after the formulas it reads; a cycle is an error
/// naming it (`a → b → a`).
fn formula_order(entity: &trellis_core::EntityDef) -> Result<Vec<String>, FieldError> {
    let formulas: HashMap<&str, Vec<String>> = entity
        .fields
        .iter()
        .filter_map(|f| f.formula.as_deref().map(|src| (f.name.as_str(), fields_read(src))))
        .collect();
    let mut names: Vec<&str> = formulas.keys().copied().collect();
    names.sort_unstable();
    let (mut order, mut path) = (Vec::new(), Vec::new());
    for n in names {
        visit(n, &formulas, &mut path, &mut order).map_err(|cycle| {
            FieldError::new(
                format!("entities.{}.fields.{}.formula", entity.name, cycle[0]),
                FieldCode::Cycle,
                format!("formulas depend on each other in a circle: {}", cycle.join(" → ")),
            )
        })?;
    }
    Ok(order)
}

/// An app ready for requests: its compiled definition and its compiled scripts.
#[derive(Debug)]
pub struct LoadedApp {
    /// The app's row id (events, timers and approvals name apps by it).
    pub id: String,
    pub compiled: CompiledApp,
    pub scripts: HashMap<String, EntityScripts>,
    /// Automation rule conditions by rule name.
    pub conditions: HashMap<String, CompiledScript>,
}

impl Deref for LoadedApp {
    type Target = CompiledApp;
    fn deref(&self) -> &CompiledApp {
        &self.compiled
    }
}

impl LoadedApp {
    /// The entity whose table has storage id `id` (events, timers and approvals name entities by it).
    pub fn entity_by_id(&self, id: &str) -> Option<std::sync::Arc<trellis_core::CompiledEntity>> {
        self.entities
            .values()
            .find(|e| e.def.storage_id().as_str() == id)
            .cloned()
    }

    /// Compiles a validated definition and its scripts; script errors name their place.
    pub fn load(rules: &RuleEngine, id: &str, def: AppDef, version: i64) -> Result<LoadedApp, Error> {
        let scripts = compile_scripts(rules, &def)?;
        let conditions = compile_rule_scripts(rules, &def)?;
        Ok(LoadedApp {
            conditions,
            id: id.to_string(),
            compiled: CompiledApp::compile(def, version),
            scripts,
        })
    }

    pub fn scripts_of(&self, entity: &str) -> Option<&EntityScripts> {
        self.scripts.get(entity).filter(|s| !s.is_empty())
    }
}

fn compile_one(rules: &RuleEngine, source: &str, at: String, errors: &mut Vec<FieldError>) -> Option<CompiledScript> {
    match rules.compile(source) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(FieldError::new(at, FieldCode::ScriptSyntax, e.to_string()));
            None
        }
    }
}

/// Compiles every script of an app; all compile errors are reported together.
pub fn compile_scripts(rules: &RuleEngine, def: &AppDef) -> Result<HashMap<String, EntityScripts>, Error> {
    let mut errors = Vec::new();
    let mut out = HashMap::new();
    for e in &def.entities {
        let mut scripts = EntityScripts::default();
        for r in &e.validations {
            let at = format!("entities.{}.validations.{}", e.name, r.name);
            let when = r
                .when
                .as_deref()
                .and_then(|w| compile_one(rules, w, format!("{at}.when"), &mut errors));
            if let Some(assert) = compile_one(rules, &r.assert, format!("{at}.assert"), &mut errors) {
                scripts.rules.push(CompiledRule {
                    rule: r.clone(),
                    when,
                    assert,
                });
            }
        }
        match formula_order(e) {
            Ok(order) => {
                for name in order {
                    let src = e.field(&name).and_then(|f| f.formula.as_deref()).unwrap_or_default();
                    let at = format!("entities.{}.fields.{name}.formula", e.name);
                    if let Some(s) = compile_one(rules, src, at, &mut errors) {
                        scripts.formulas.push((name, s));
                    }
                }
            }
            Err(cycle) => errors.push(cycle),
        }
        for f in &e.fields {
            if let Some(src) = f.required_if.as_ref().and_then(|r| r.script())
                && let Some(s) = compile_one(
                    rules,
                    src,
                    format!("entities.{}.fields.{}.required_if", e.name, f.name),
                    &mut errors,
                )
            {
                scripts.required_if.push((f.name.to_string(), s));
            }
        }
        scripts.conditions = e
            .fields
            .iter()
            .filter(|f| f.visible_if.is_some() || f.required_if.as_ref().is_some_and(|r| r.filter().is_some()))
            .map(|f| f.name.to_string())
            .collect();
        let mut guard_sources: Vec<(String, &str)> = Vec::new();
        if let Some(p) = &e.pipeline {
            for (place, req) in guard_places(p) {
                for g in &req.conditions {
                    let key = format!("{place}.{}", g.name);
                    let at = format!("entities.{}.pipeline.{key}", e.name);
                    if let Some(s) = compile_one(rules, &g.assert, at.clone(), &mut errors) {
                        scripts.guards.insert(key, s);
                    }
                    guard_sources.push((at, g.assert.as_str()));
                }
            }
        }
        // The fields the scripts read: only those are converted on a write.
        let compiled: Vec<&CompiledScript> = scripts
            .rules
            .iter()
            .flat_map(|r| r.when.iter().chain(std::iter::once(&r.assert)))
            .chain(scripts.required_if.iter().map(|(_, s)| s))
            .chain(scripts.formulas.iter().map(|(_, s)| s))
            .collect();
        let mut reads: Option<Vec<String>> = Some(Vec::new());
        scripts.reads_user = compiled.iter().any(|s| s.reads_user());
        for script in compiled {
            match (script.record_fields(), reads.as_mut()) {
                (None, _) => reads = None,
                (Some(names), Some(all)) => {
                    all.extend(names.iter().filter(|n| !all.contains(n)).cloned().collect::<Vec<_>>())
                }
                (Some(_), None) => {}
            }
        }
        // required_if checks its own field's value, which the record map need not hold.
        scripts.reads = reads;
        // Related records a script reads must be relation fields of the entity.
        let mut sources: Vec<(String, &str)> = Vec::new();
        for r in &e.validations {
            let at = format!("entities.{}.validations.{}", e.name, r.name);
            sources.push((format!("{at}.assert"), r.assert.as_str()));
            if let Some(w) = &r.when {
                sources.push((format!("{at}.when"), w.as_str()));
            }
        }
        for f in &e.fields {
            let required_if = f.required_if.as_ref().and_then(|r| r.script());
            for (what, src) in [("formula", f.formula.as_deref()), ("required_if", required_if)] {
                if let Some(src) = src {
                    sources.push((format!("entities.{}.fields.{}.{what}", e.name, f.name), src));
                }
            }
        }
        sources.extend(guard_sources);
        for (at, src) in sources {
            // Every field a script names must exist: a typo or a renamed field would otherwise
            // read as empty, silently.
            let is_field = |name: &str| {
                e.field(name).is_some()
                    || (name == "stage" && e.pipeline.is_some())
                    || name.strip_suffix(trellis_rules::CURRENCY_SUFFIX).is_some_and(|base| {
                        e.field(base)
                            .is_some_and(|f| f.field_type == trellis_core::FieldType::Currency)
                    })
            };
            for var in ["record.", "old."] {
                for name in names_after(src, var) {
                    if !is_field(&name) {
                        errors.push(FieldError::new(
                            at.clone(),
                            FieldCode::UnknownField,
                            format!("{var}{name}: '{name}' is not a field of '{}'", e.name),
                        ));
                    }
                }
            }
            for name in names_after(src, "related.") {
                let is_relation = e
                    .field(&name)
                    .is_some_and(|f| f.field_type == trellis_core::FieldType::Relation);
                if !is_relation {
                    errors.push(FieldError::new(
                        at.clone(),
                        FieldCode::UnknownRelation,
                        format!("related.{name}: '{name}' is not a relation field of '{}'", e.name),
                    ));
                } else if !scripts.related.contains(&name) {
                    scripts.related.push(name);
                }
            }
        }
        out.insert(e.name.to_string(), scripts);
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::validation(errors))
    }
}

/// Compiles the conditions of an app's automation rules; errors name the rule (the actions'
/// own scripts are checked by their actions when the rule is saved,
/// `crate::automation::actions::check_rules`).
pub fn compile_rule_scripts(rules: &RuleEngine, def: &AppDef) -> Result<HashMap<String, CompiledScript>, Error> {
    let mut errors = super::cron::check_schedules(def);
    let mut out = HashMap::new();
    for (i, r) in def.rules.iter().enumerate() {
        let at = format!("rules[{i}]");
        if let Some(c) = &r.condition
            && let Some(s) = compile_one(rules, c, format!("{at}.condition"), &mut errors)
        {
            if let Some(e) = r.trigger.entity().and_then(|e| def.entity(e.as_str())) {
                for var in ["record.", "old."] {
                    for name in names_after(c, var) {
                        let known = e.field(&name).is_some()
                            || matches!(
                                name.as_str(),
                                "id" | "owner" | "created_by" | "created_at" | "updated_at"
                            )
                            || (name == "stage" && e.pipeline.is_some());
                        if !known {
                            errors.push(FieldError::new(
                                format!("{at}.condition"),
                                FieldCode::UnknownField,
                                format!("{var}{name}: '{name}' is not a field of '{}'", e.name),
                            ));
                        }
                    }
                }
            }
            out.insert(r.name.to_string(), s);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::validation(errors))
    }
}

/// The places of a pipeline that hold conditions, with their key prefix.
pub fn guard_places(p: &trellis_core::pipeline::PipelineDef) -> Vec<(String, &trellis_core::pipeline::Requirements)> {
    let mut out = Vec::new();
    for s in &p.stages {
        out.push((format!("stages.{}.entry", s.key), &s.entry));
        out.push((format!("stages.{}.exit", s.key), &s.exit));
    }
    for (i, t) in p.transitions.iter().enumerate() {
        out.push((format!("transitions.{i}"), &t.requires));
    }
    out
}

/// The `user` of scripts run without reading the directory (formula backfills, the script
/// tester): the id and the tenant role. Writes, guards and rule conditions use
/// [`crate::Engine::script_user`] (roles in the app, first team).
pub fn user_info(ctx: &TenantCtx) -> UserInfo {
    UserInfo {
        id: ctx.user_id().to_string(),
        roles: vec![if ctx.is_admin() { "admin" } else { "member" }.to_string()],
        team: None,
    }
}

fn script_failed(what: &str, e: &RuntimeError) -> Error {
    Error::new(ErrorCode::ScriptError, format!("{what} failed: {e}")).with_errors(vec![FieldError::new(
        what,
        FieldCode::ScriptError,
        e.to_string(),
    )])
}

fn is_empty(v: Option<&Val>) -> bool {
    match v {
        None | Some(Val::Null) => true,
        Some(Val::Text(s)) => s.trim().is_empty(),
        Some(Val::Json(Value::Array(a))) => a.is_empty(),
        _ => false,
    }
}

/// What the scripts of a write decided: computed formula values and failed requirements/rules.
#[derive(Debug, Default)]
pub struct Outcome {
    pub computed: Vec<(String, Val)>,
    pub errors: Vec<FieldError>,
}

/// A formula's result as the field's value: decimals rounded to the field's scale, then the
/// field's own coercion (a result that does not fit fails the write with `script_error`).
fn formula_value(f: &CompiledField, v: &Dynamic) -> Result<Val, Error> {
    if v.is_unit() {
        return Ok(Val::Null);
    }
    let json = match v.as_decimal() {
        Ok(d) if f.kind.is_fixed_point() => Value::String(d.round_dp(f.scale as u32).to_string()),
        _ => dynamic_to_json(v),
    };
    f.coerce(&json).map_err(|e| {
        Error::new(
            ErrorCode::ScriptError,
            format!("the formula of '{}' gave {json}, which {}", f.name, e.message),
        )
        .with_errors(vec![FieldError::new(f.name.clone(), FieldCode::ScriptError, e.message)])
    })
}

/// Runs an entity's scripts on the record being written (`record`: every field's value after the
/// write; `old`: the stored values on update): formulas in dependency order (each sees those
/// before it), then conditional requirements and validation rules on the computed record. A
/// script that fails to run is a `script_error` naming it.
pub fn run(
    rules: &RuleEngine,
    scripts: &EntityScripts,
    entity: &CompiledEntity,
    record: &[(&CompiledField, &Val)],
    old: Option<&[(&CompiledField, &Val)]>,
    related: trellis_rules::Map,
    user: UserInfo,
) -> Result<Outcome, Error> {
    run_scripts(rules, scripts, entity, record, old, related, user, true)
}

/// Computes the formulas of a record, without its requirements and rules (filling a formula
/// added to an entity that holds records).
pub fn compute_formulas(
    rules: &RuleEngine,
    scripts: &EntityScripts,
    entity: &CompiledEntity,
    record: &[(&CompiledField, &Val)],
    related: trellis_rules::Map,
    user: UserInfo,
) -> Result<Vec<(String, Val)>, Error> {
    Ok(run_scripts(rules, scripts, entity, record, None, related, user, false)?.computed)
}

#[allow(clippy::too_many_arguments)]
fn run_scripts(
    rules: &RuleEngine,
    scripts: &EntityScripts,
    entity: &CompiledEntity,
    record: &[(&CompiledField, &Val)],
    old: Option<&[(&CompiledField, &Val)]>,
    related: trellis_rules::Map,
    user: UserInfo,
    with_checks: bool,
) -> Result<Outcome, Error> {
    let reads = scripts.reads.as_deref();
    let mut ctx = ScriptContext::new(record_map_for(reads, record), user, trellis_core::value::now_micros());
    ctx.old = old.map(|o| record_map_for(reads, o));
    ctx.related = related;
    let mut computed = Vec::with_capacity(scripts.formulas.len());
    for (name, script) in &scripts.formulas {
        let f = entity
            .column(name)
            .ok_or_else(|| Error::internal("formula field vanished"))?;
        let v = rules
            .eval(script, &ctx)
            .map_err(|e| script_failed(&format!("formula of '{name}'"), &e))?;
        let val = formula_value(f, &v)?;
        ctx.record
            .insert(name.as_str().into(), trellis_rules::to_dynamic(f, &val));
        computed.push((name.clone(), val));
    }
    if !with_checks {
        return Ok(Outcome {
            computed,
            errors: Vec::new(),
        });
    }
    // Requirements and rules all see the same, final record: prepare its variables once.
    let mut scope = rules.prepare(&ctx);
    let mut errors = Vec::new();
    for (field, cond) in &scripts.required_if {
        let value = record.iter().find(|(f, _)| &f.name == field).map(|(_, v)| *v);
        if is_empty(value) {
            let needed = rules
                .eval_bool_in(cond, &mut scope)
                .map_err(|e| script_failed(&format!("required_if of '{field}'"), &e))?;
            if needed {
                errors.push(FieldError::new(field.clone(), FieldCode::Required, "is required"));
            }
        }
    }
    for r in &scripts.rules {
        let name = format!("rule '{}'", r.rule.name);
        if let Some(when) = &r.when
            && !rules
                .eval_bool_in(when, &mut scope)
                .map_err(|e| script_failed(&name, &e))?
        {
            continue;
        }
        if !rules
            .eval_bool_in(&r.assert, &mut scope)
            .map_err(|e| script_failed(&name, &e))?
        {
            let field = r.rule.field.as_ref().map(|f| f.to_string()).unwrap_or_default();
            errors.push(
                FieldError::new(
                    field,
                    r.rule.name.to_string(),
                    r.rule.message.display(r.rule.name.as_str()),
                )
                .with_messages(r.rule.message.clone()),
            );
        }
    }
    Ok(Outcome { computed, errors })
}

/// A script value as JSON (for the script checker).
pub fn dynamic_to_json(v: &Dynamic) -> Value {
    if v.is_unit() {
        Value::Null
    } else if let Ok(b) = v.as_bool() {
        Value::Bool(b)
    } else if let Ok(i) = v.as_int() {
        json!(i)
    } else if let Ok(d) = v.as_decimal() {
        serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::String(d.to_string()))
    } else if v.is_string() {
        Value::String(v.clone().into_string().unwrap_or_default())
    } else if v.is_array() {
        Value::Array(
            v.clone()
                .into_array()
                .unwrap_or_default()
                .iter()
                .map(dynamic_to_json)
                .collect(),
        )
    } else if v.is_map() {
        let m = v.clone().cast::<trellis_rules::Map>();
        Value::Object(m.iter().map(|(k, x)| (k.to_string(), dynamic_to_json(x))).collect())
    } else if let Some(d) = v.clone().try_cast::<NaiveDate>() {
        Value::String(d.format("%Y-%m-%d").to_string())
    } else if let Some(t) = v.clone().try_cast::<DateTime<Utc>>() {
        Value::String(trellis_core::value::format_datetime(&t))
    } else {
        Value::String(v.to_string())
    }
}

/// Values of an entity's fields for a sample record (unknown keys refused, constraints not).
pub fn sample_values(entity: &CompiledEntity, record: Option<&Value>) -> Result<Vec<(CompiledField, Val)>, Error> {
    let obj = match record {
        None | Some(Value::Null) => None,
        Some(Value::Object(o)) => Some(o),
        Some(_) => return Err(Error::bad_field("record", FieldCode::Type, "must be an object")),
    };
    let mut errors = Vec::new();
    let mut out = Vec::new();
    if let Some(o) = obj
        && let Some(k) = o.keys().find(|k| entity.column(k).is_none_or(|c| c.system))
    {
        return Err(trellis_core::query::unknown_field(entity, "record", k));
    }
    for f in entity.fields() {
        let v = obj.and_then(|o| o.get(&f.name)).or(f.default.as_ref());
        let val = match v {
            None => Val::Null,
            Some(Value::String(s)) if f.kind == trellis_core::FieldType::AutoNumber => Val::Text(s.clone()),
            Some(v) => match f.coerce(v) {
                Ok(val) => val,
                Err(e) => {
                    errors.push(e.prefixed("record"));
                    Val::Null
                }
            },
        };
        out.push((f.clone(), val));
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::validation(errors))
    }
}

impl crate::Engine {
    /// Compiles a script for an entity and runs it on a sample record: what the rule editor calls.
    /// Body: `{entity, script, kind: "condition" | "value", record?}`. A compile or run failure is
    /// an answer (`ok: false` with line, column and message), not an error.
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app))]
    pub async fn check_script(&self, ctx: &TenantCtx, app: &str, body: &Value) -> Result<Value, Error> {
        let app = self.compiled_app(ctx, app).await?;
        let obj = body
            .as_object()
            .ok_or_else(|| Error::bad_request("the body must be a JSON object"))?;
        if let Some(k) = obj
            .keys()
            .find(|k| !matches!(k.as_str(), "entity" | "script" | "kind" | "record" | "related"))
        {
            return Err(Error::bad_field(
                trellis_core::names::truncate(k, 40),
                FieldCode::UnknownKey,
                "takes entity, script, kind, record and related",
            ));
        }
        let entity_name = obj
            .get("entity")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad_field("entity", FieldCode::Required, "is required"))?;
        let entity = app.entity(entity_name).ok_or_else(|| {
            Error::bad_field(
                "entity",
                FieldCode::NotFound,
                format!(
                    "'{}' is not an entity of this app",
                    trellis_core::names::truncate(entity_name, 64)
                ),
            )
        })?;
        let source = obj
            .get("script")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::bad_field("script", FieldCode::Required, "is required"))?;
        let kind = match obj.get("kind").and_then(Value::as_str).unwrap_or("condition") {
            k @ ("condition" | "value") => k,
            _ => return Err(Error::bad_field("kind", FieldCode::Option, "is condition or value")),
        };
        let sample = sample_values(entity, obj.get("record"))?;
        let script = match self.rules.compile(source) {
            Ok(s) => s,
            Err(e) => {
                return Ok(json!({"ok": false, "stage": "compile",
                    "error": {"line": e.line, "column": e.column, "message": e.message}}));
            }
        };
        let record: Vec<(&CompiledField, &Val)> = sample.iter().map(|(f, v)| (f, v)).collect();
        let mut ctx = ScriptContext::new(record_map(&record), user_info(ctx), trellis_core::value::now_micros());
        // Sample related records, as `{"customer": {...}}`, given as they would be read.
        if let Some(Value::Object(rel)) = obj.get("related") {
            for (k, v) in rel {
                ctx.related.insert(k.as_str().into(), trellis_rules::json_to_dynamic(v));
            }
        }
        let result = match kind {
            "condition" => self.rules.eval_bool(&script, &ctx).map(Dynamic::from),
            _ => self.rules.eval(&script, &ctx),
        };
        Ok(match result {
            Ok(v) => json!({"ok": true, "kind": kind, "value": dynamic_to_json(&v)}),
            Err(e) => json!({"ok": false, "stage": "run",
                "error": {"line": e.line, "column": e.column, "message": e.message}}),
        })
    }
}

impl crate::Engine {
    /// Computes formula fields that are new or changed in `new` (compared with `old`) for every
    /// record that exists, inside the definition change's transaction. A formula that fails on a
    /// record refuses the change, naming the record.
    pub(crate) async fn fill_formulas<C: trellis_store::Writes>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        old: &AppDef,
        new: &LoadedApp,
    ) -> Result<(), Error> {
        for e in &new.compiled.def.entities {
            let before = old.entities.iter().find(|x| x.id == e.id);
            let changed = e.fields.iter().any(|f| {
                f.formula.is_some()
                    && before
                        .and_then(|b| b.fields.iter().find(|x| x.id == f.id))
                        .is_none_or(|b| b.formula != f.formula)
            });
            let Some(scripts) = new.scripts.get(e.name.as_str()).filter(|_| changed && before.is_some()) else {
                continue;
            };
            let entity = new
                .compiled
                .entity(e.name.as_str())
                .ok_or_else(|| Error::internal("entity vanished"))?;
            for row in trellis_store::records::all(conn, entity).await? {
                let record: Vec<(&CompiledField, &Val)> = entity
                    .columns
                    .iter()
                    .zip(&row.values)
                    .filter(|(c, _)| !c.system)
                    .filter_map(|(c, v)| v.as_ref().map(|v| (c, v)))
                    .collect();
                let related = scripts.related_records(conn, &new.compiled, entity, &record).await?;
                let computed = compute_formulas(&self.rules, scripts, entity, &record, related, user_info(ctx))
                    .map_err(|mut err| {
                        err.detail = format!("{} (record {})", err.detail, row.id());
                        err
                    })?;
                let values: Vec<(&CompiledField, Val)> = computed
                    .into_iter()
                    .filter_map(|(name, v)| entity.column(&name).map(|f| (f, v)))
                    .collect();
                trellis_store::records::set_derived(conn, entity, Some(row.id()), &values).await?;
            }
        }
        Ok(())
    }
}
