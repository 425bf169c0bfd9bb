//! What the actions on records share ([`super::set_fields`], [`super::create_record`],
//! [`super::update_related`], [`super::assign_owner`], [`super::transition`]): they run inside the
//! job's completing transaction (so they happen once), through the record write path.

use serde_json::{Map, Value};
use trellis_core::permissions::Right;
use trellis_core::{CompiledEntity, Error};
use trellis_rules::Dynamic;

use crate::TenantCtx;
use crate::automation::ActionError;
use crate::automation::dispatch::condition_context;
use crate::compiled::scripts::LoadedApp;
use crate::records::problem_reads;
use crate::{Engine, records::RecordOut};

/// A record body from an action's `values`: literals as they are, `{"expr": "<rhai>"}` computed
/// with `record`/`old` of the trigger, strings rendered as templates.
pub fn body_of(
    engine: &Engine,
    values: &Map<String, Value>,
    entity: Option<&CompiledEntity>,
    input: &Value,
) -> Result<Value, ActionError> {
    let ctx = condition_context(entity, None, input);
    let mut out = Map::new();
    for (k, v) in values {
        let value = match v.get("expr").and_then(Value::as_str) {
            Some(src) if v.as_object().is_some_and(|o| o.len() == 1) => {
                let script = engine
                    .rules
                    .compile(src)
                    .map_err(|e| ActionError::fatal(format!("value of '{k}': {e}")))?;
                let d = engine
                    .rules
                    .eval(&script, &ctx)
                    .map_err(|e| ActionError::fatal(format!("value of '{k}': {e}")))?;
                dynamic_json(&d)
            }
            _ => super::super::template::render_json(v, input),
        };
        out.insert(k.clone(), value);
    }
    Ok(Value::Object(out))
}

/// A failed write of an action, with the fields its problems depend on beyond those they name
/// (a `required_if` or a validation rule reading another field, [`problem_reads`]): a reader of
/// the run who may not see one of them reads the error veiled, as any naming a hidden field.
pub(crate) fn write_failed(app: &LoadedApp, entity: &CompiledEntity, e: impl Into<Error>) -> ActionError {
    let e: Error = e.into();
    let reads = problem_reads(&app.def, &entity.def, &e.errors);
    let mut failed = ActionError::from(e);
    if !reads.is_empty() {
        failed.message = format!("{} (depends on {})", failed.message, reads.join(", "));
    }
    failed
}

fn dynamic_json(d: &Dynamic) -> Value {
    crate::compiled::scripts::dynamic_to_json(d)
}

pub(crate) fn entity_of<'a>(app: &'a LoadedApp, name: &str) -> Result<&'a std::sync::Arc<CompiledEntity>, ActionError> {
    app.entity(name)
        .ok_or_else(|| ActionError::fatal(format!("entity '{name}' no longer exists")))
}

pub(crate) fn record_id(input: &Value) -> Result<&str, ActionError> {
    input["record"]["id"]
        .as_str()
        .ok_or_else(|| ActionError::fatal("the trigger has no record"))
}

/// Sets fields of the trigger record (through the write path: validation, formulas, events).
pub async fn set_fields(
    engine: &Engine,
    tx: &trellis_store::WriteTx,
    ctx: &TenantCtx,
    app: &LoadedApp,
    values: &Map<String, Value>,
    input: &Value,
) -> Result<Value, ActionError> {
    let name = input["entity"]
        .as_str()
        .ok_or_else(|| ActionError::fatal("no entity"))?;
    let entity = entity_of(app, name)?;
    let body = body_of(engine, values, Some(entity), input)?;
    let id = record_id(input)?;
    let guard = engine.guard(ctx, app, entity, Right::Update).await?;
    let out: RecordOut = engine
        .update_in(tx, ctx, app, entity, &guard, id, &body, None)
        .await
        .map_err(|e| write_failed(app, entity, e))?;
    Ok(serde_json::json!({"record": id, "version": out.version, "set": body}))
}

/// Creates a record of an entity; `owner` is the picked owner, if any.
#[allow(clippy::too_many_arguments)]
pub async fn create_record(
    engine: &Engine,
    tx: &trellis_store::WriteTx,
    ctx: &TenantCtx,
    app: &LoadedApp,
    target: &str,
    values: &Map<String, Value>,
    owner: Option<String>,
    input: &Value,
) -> Result<Value, ActionError> {
    let entity = entity_of(app, target)?;
    let source = input["entity"].as_str().and_then(|n| app.entity(n)).map(|e| e.as_ref());
    let mut body = body_of(engine, values, source, input)?;
    if let (Some(o), Value::Object(m)) = (owner, &mut body) {
        m.insert("owner".into(), Value::String(o));
    }
    // A rule creates only where the user it acts for may, and only records inside that user's
    // scope (a picked owner outside it is refused).
    let guard = engine.guard(ctx, app, entity, Right::Create).await?;
    let prepared = engine
        .prepare(entity, &body, None)
        .map_err(|errs| write_failed(app, entity, crate::records::WriteError::Fields(errs)))?;
    let out = engine
        .insert_in(tx, ctx, app, entity, &guard, prepared)
        .await
        .map_err(|e| write_failed(app, entity, e))?;
    Ok(serde_json::json!({"entity": target, "created": out.json["id"], "owner": out.json["owner"]}))
}

/// Updates the record that a relation field of the trigger record points at.
pub async fn update_related(
    engine: &Engine,
    tx: &trellis_store::WriteTx,
    ctx: &TenantCtx,
    app: &LoadedApp,
    relation: &str,
    values: &Map<String, Value>,
    input: &Value,
) -> Result<Value, ActionError> {
    let name = input["entity"]
        .as_str()
        .ok_or_else(|| ActionError::fatal("no entity"))?;
    let source = entity_of(app, name)?;
    let target_name = source
        .column(relation)
        .and_then(|f| f.target.clone())
        .ok_or_else(|| ActionError::fatal(format!("'{relation}' is not a relation")))?;
    let target = entity_of(app, &target_name)?;
    let Some(id) = input["record"][relation].as_str() else {
        return Ok(serde_json::json!({"skipped": format!("'{relation}' is empty")}));
    };
    let body = body_of(engine, values, Some(source), input)?;
    let guard = engine.guard(ctx, app, target, Right::Update).await?;
    let out = engine
        .update_in(tx, ctx, app, target, &guard, id, &body, None)
        .await
        .map_err(|e| write_failed(app, target, e))?;
    Ok(serde_json::json!({"entity": target_name, "record": id, "version": out.version, "set": body}))
}

/// Moves the trigger record through its pipeline (its conditions and approvals apply).
pub async fn transition(
    engine: &Engine,
    tx: &trellis_store::WriteTx,
    ctx: &TenantCtx,
    app: &LoadedApp,
    to: &str,
    comment: Option<&str>,
    input: &Value,
) -> Result<Value, ActionError> {
    let name = input["entity"]
        .as_str()
        .ok_or_else(|| ActionError::fatal("no entity"))?;
    let entity = entity_of(app, name)?;
    let id = record_id(input)?;
    let mut body = serde_json::json!({ "to": to });
    if let Some(c) = comment {
        body["comment"] = Value::String(super::super::template::render(c, input));
    }
    let guard = engine.guard(ctx, app, entity, Right::Transition).await?;
    match engine
        .transition_in(tx, ctx, app, entity, &guard, id, &body, None)
        .await?
    {
        crate::pipelines::TransitionOut::Done(r) => Ok(serde_json::json!({"record": id, "stage": r.json["stage"]})),
        crate::pipelines::TransitionOut::Pending { approval, .. } => {
            Ok(serde_json::json!({"record": id, "pending_approval": approval.id}))
        }
    }
}

/// What a dry run shows of `values`: the body they would write, less the fields of `target`
/// hidden from the caller.
pub(crate) fn preview_values(
    run: &super::DryRun<'_>,
    values: &Map<String, Value>,
    target: Option<&crate::access::Access>,
) -> Value {
    match body_of(run.engine, values, run.entity, run.input) {
        Ok(mut v) => {
            if let Some(t) = target {
                t.redact(&mut v);
            }
            serde_json::json!({ "values": v })
        }
        Err(e) => serde_json::json!({ "error": e.message }),
    }
}
