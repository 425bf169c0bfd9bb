//! The builder's API: apps, entities and fields.

use actix_web::{HttpResponse, delete, get, patch, post, web};
use serde::Deserialize;
use serde_json::{Value, json};
use trellis_core::Error;
use trellis_engine::Engine;
use trellis_engine::apps::ChangeOptions;
use utoipa::IntoParams;

use crate::extract::{Caller, JsonObject};
use crate::problem::{ApiResult, Problem};

/// How a definition change is applied.
#[derive(Deserialize, IntoParams, Default)]
pub struct ChangeQuery {
    /// Plan (and try) the change, then roll it back.
    #[serde(default)]
    dry_run: bool,
    /// Allow a type change to drop values that do not fit the new type.
    #[serde(default)]
    allow_data_loss: bool,
}

impl ChangeQuery {
    pub(crate) fn opts(&self) -> ChangeOptions {
        ChangeOptions {
            dry_run: self.dry_run,
            allow_data_loss: self.allow_data_loss,
        }
    }
}

/// The apps of the caller's tenant.
#[utoipa::path(tag = "apps", responses((status = 200, description = "Apps", body = Object), (status = 401, body = Problem)))]
#[get("/apps")]
pub async fn list_apps(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(json!({"data": engine.list_apps(&caller.0).await?})))
}

/// Create an app (`app.schema.json`), optionally with its entities.
#[utoipa::path(tag = "apps", request_body = Object, responses((status = 201, description = "The app", body = Object), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps")]
pub async fn create_app(engine: web::Data<Engine>, caller: Caller, body: JsonObject) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(engine.create_app(&caller.0, &body).await?))
}

/// An app with its definition.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), responses((status = 200, description = "The app", body = Object), (status = 404, body = Problem)))]
#[get("/apps/{app}")]
pub async fn get_app(engine: web::Data<Engine>, caller: Caller, app: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.get_app(&caller.0, &app).await?))
}

/// Change an app's label or description (merge patch).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ChangeQuery), request_body = Object, responses((status = 200, description = "What changed", body = Object), (status = 422, body = Problem)))]
#[patch("/apps/{app}")]
pub async fn patch_app(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let change = engine.patch_app(&caller.0, &app, &body, q.opts()).await?;
    changed(&engine, &caller, &app, change).await
}

/// Delete an app with all its records.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), responses((status = 204, description = "Deleted"), (status = 404, body = Problem)))]
#[delete("/apps/{app}")]
pub async fn delete_app(engine: web::Data<Engine>, caller: Caller, app: web::Path<String>) -> ApiResult<HttpResponse> {
    engine.delete_app(&caller.0, &app).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Answers a change: the plan, and the app as it now is.
pub(crate) async fn changed(
    engine: &Engine,
    caller: &Caller,
    app: &str,
    change: trellis_engine::apps::ChangeOut,
) -> ApiResult<HttpResponse> {
    let current = engine.get_app(&caller.0, app).await?;
    Ok(HttpResponse::Ok()
        .json(json!({"applied": change.applied, "version": change.version, "plan": change.plan, "app": current})))
}

fn entity_json(app: &trellis_engine::apps::AppOut, entity: &str) -> Result<Value, Error> {
    let e = app
        .def
        .entity(entity)
        .ok_or_else(|| Error::not_found(format!("entity '{entity}' does not exist")))?;
    serde_json::to_value(e).map_err(|e| Error::internal(e.to_string()))
}

/// The entities of an app.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), responses((status = 200, description = "Entities", body = Object), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities")]
pub async fn list_entities(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let a = engine.get_app(&caller.0, &app).await?;
    Ok(HttpResponse::Ok().json(json!({"data": a.def.entities})))
}

/// Add an entity (`entity.schema.json`), with its fields if given.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ChangeQuery), request_body = Object, responses((status = 201, description = "The entity and the plan", body = Object), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/entities")]
pub async fn create_entity(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let change = engine.create_entity(&caller.0, &app, &body, q.opts()).await?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let a = engine.get_app(&caller.0, &app).await?;
    let entity = if change.applied {
        entity_json(&a, &name)?
    } else {
        body.into_inner()
    };
    Ok(HttpResponse::Created()
        .json(json!({"applied": change.applied, "version": change.version, "plan": change.plan, "entity": entity})))
}

/// An entity's definition.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path)), responses((status = 200, description = "The entity", body = Object), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities/{entity}")]
pub async fn get_entity(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let a = engine.get_app(&caller.0, &app).await?;
    Ok(HttpResponse::Ok().json(entity_json(&a, &entity)?))
}

/// Rename or relabel an entity (merge patch; renaming is metadata only).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery), request_body = Object, responses((status = 200, description = "What changed", body = Object), (status = 422, body = Problem)))]
#[patch("/apps/{app}/entities/{entity}")]
pub async fn patch_entity(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let change = engine.patch_entity(&caller.0, &app, &entity, &body, q.opts()).await?;
    changed(&engine, &caller, &app, change).await
}

/// Delete an entity and its records.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery), responses((status = 200, description = "What changed", body = Object), (status = 409, body = Problem)))]
#[delete("/apps/{app}/entities/{entity}")]
pub async fn delete_entity(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let change = engine.delete_entity(&caller.0, &app, &entity, q.opts()).await?;
    changed(&engine, &caller, &app, change).await
}

/// The fields of an entity.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path)), responses((status = 200, description = "Fields", body = Object), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities/{entity}/fields")]
pub async fn list_fields(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let a = engine.get_app(&caller.0, &app).await?;
    let e = a
        .def
        .entity(&entity)
        .ok_or_else(|| Error::not_found(format!("entity '{entity}' does not exist")))?;
    Ok(HttpResponse::Ok().json(json!({"data": e.fields})))
}

/// Add a field (`field.schema.json`); existing records get its default.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery), request_body = Object, responses((status = 201, description = "The field and the plan", body = Object), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/entities/{entity}/fields")]
pub async fn create_field(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let change = engine.create_field(&caller.0, &app, &entity, &body, q.opts()).await?;
    let name = body.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    let a = engine.get_app(&caller.0, &app).await?;
    let field = a
        .def
        .entity(&entity)
        .and_then(|e| e.field(&name))
        .map(|f| serde_json::to_value(f).unwrap_or_default())
        .unwrap_or(body.into_inner());
    Ok(HttpResponse::Created()
        .json(json!({"applied": change.applied, "version": change.version, "plan": change.plan, "field": field})))
}

/// Change a field (merge patch): rename and relabel are metadata only; a type change is planned
/// and refused where it would lose values unless `allow_data_loss=true`.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ("field" = String, Path), ChangeQuery), request_body = Object, responses((status = 200, description = "What changed", body = Object), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[patch("/apps/{app}/entities/{entity}/fields/{field}")]
pub async fn patch_field(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity, field) = path.into_inner();
    let change = engine
        .patch_field(&caller.0, &app, &entity, &field, &body, q.opts())
        .await?;
    changed(&engine, &caller, &app, change).await
}

/// Delete a field and its values.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ("field" = String, Path), ChangeQuery), responses((status = 200, description = "What changed", body = Object), (status = 404, body = Problem)))]
#[delete("/apps/{app}/entities/{entity}/fields/{field}")]
pub async fn delete_field(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, field) = path.into_inner();
    let change = engine.delete_field(&caller.0, &app, &entity, &field, q.opts()).await?;
    changed(&engine, &caller, &app, change).await
}

/// Compile a script (validation rule, condition, later formulas) for an entity and run it on a
/// sample record: `{entity, script, kind: "condition" | "value", record?}` → `{ok, value}` or
/// `{ok: false, stage: "compile" | "run", error: {line, column, message}}`.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), request_body = Object,
    responses((status = 200, description = "Compile result and value", body = Object), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[post("/apps/{app}/scripts/check")]
pub async fn check_script(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.check_script(&caller.0, &app, &body).await?))
}
