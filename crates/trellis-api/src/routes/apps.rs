//! The builder's API: apps, entities and fields.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trellis_core::automation::RuleDef;
use trellis_core::def::{
    AppDef, EntityDef, FieldDef, FieldType, IndexDef, Label, RoleDef, Rollup, SelectOption, ValidationRule,
};
use trellis_core::pipeline::PipelineDef;
use trellis_core::plan::StepSummary;
use trellis_core::{Error, Slug, StorageId};
use trellis_engine::Engine;
use trellis_engine::apps::{AppOut, ChangeOptions};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Admin, Caller, Def, JsonObject, double_option, etag, if_match, typed};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;

// Definition bodies are checked against `schemas/*.schema.json` (every problem listed, 422) and
// then read into the `trellis_core::def` types the annotations name; merge patches are applied
// to the stored definition, which is then checked as a whole the same way.

/// A change to an app's definition (RFC 7396 merge patch): keys left out stay, `null` removes
/// an optional one. Entities have their own endpoints; so do roles, rules and views, one at a
/// time (a list here replaces the whole list: send `If-Match`).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppPatch {
    /// The app's own name (an app cannot be renamed).
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    name: Option<Option<Slug>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    label: Option<Option<Label>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    description: Option<Option<Label>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    roles: Option<Option<Vec<RoleDef>>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 500)]
    rules: Option<Option<Vec<RuleDef>>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 200)]
    views: Option<Option<Vec<trellis_core::view::ViewDef>>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 200)]
    forms: Option<Option<Vec<trellis_core::form::FormDef>>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    dashboards: Option<Option<Vec<trellis_core::dashboard::DashboardDef>>>,
    /// Not changed here (422 `read_only`): entities have their own endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    entities: Option<Value>,
}

/// A change to an entity (RFC 7396 merge patch): keys left out stay, `null` removes an optional
/// one. Renaming is metadata only; fields have their own endpoints.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntityPatch {
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    name: Option<Option<Slug>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    label: Option<Option<Label>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    description: Option<Option<Label>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    title_field: Option<Option<Slug>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 100)]
    validations: Option<Option<Vec<ValidationRule>>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    pipeline: Option<Option<PipelineDef>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 16)]
    indexes: Option<Option<Vec<IndexDef>>>,
    /// Not changed here (422 `read_only`): fields have their own endpoints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    fields: Option<Value>,
    /// Not changed here (422 `read_only`): the storage id is the server's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    id: Option<Value>,
}

/// A change to a field (RFC 7396 merge patch): keys left out stay, `null` removes an optional
/// one. See `FieldDef` for what each key means.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldPatch {
    /// The field's own storage id (a field read with GET may be sent back); it cannot change.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    id: Option<Option<StorageId>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    name: Option<Option<Slug>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    label: Option<Option<Label>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[serde(rename = "type")]
    #[schema(nullable = false)]
    field_type: Option<Option<FieldType>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    required: Option<Option<bool>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    unique: Option<Option<bool>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    indexed: Option<Option<bool>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    default: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = nullable_bound)]
    min: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = nullable_bound)]
    max: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1000000)]
    min_length: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 1000000)]
    max_length: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 500)]
    pattern: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 6)]
    scale: Option<Option<u8>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 500)]
    options: Option<Option<Vec<SelectOption>>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    target: Option<Option<Slug>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 100)]
    format: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(min_items = 1, max_items = 50)]
    accept: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 100)]
    max_files: Option<Option<u32>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    help: Option<Option<Label>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    required_if: Option<Option<trellis_core::condition::RequiredIf>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<trellis_core::condition::ConditionSchema>)]
    visible_if: Option<Option<Value>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 4000)]
    formula: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    rollup: Option<Option<Rollup>>,
}

/// A bound in a field patch: a number, an ISO date or date-time, or `null` to remove it.
fn nullable_bound() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Number, Type::String, Type::Null]))
        .build()
}

/// What a definition change did (or on a dry run would do), and the app as it now is.
#[derive(Serialize, ToSchema)]
pub struct AppChange {
    /// Whether the change was stored (false on a dry run, or when it changed nothing).
    applied: bool,
    /// The app's version after the change.
    version: i64,
    /// The steps of the change, in order.
    plan: Vec<StepSummary>,
    app: AppOut,
}

/// An added entity and the plan that added it.
#[derive(Serialize, ToSchema)]
pub struct EntityChange {
    /// Whether the change was stored (false on a dry run).
    applied: bool,
    version: i64,
    plan: Vec<StepSummary>,
    /// The entity as stored (on a dry run: as sent).
    entity: EntityDef,
}

/// An added field and the plan that added it.
#[derive(Serialize, ToSchema)]
pub struct FieldChange {
    /// Whether the change was stored (false on a dry run).
    applied: bool,
    version: i64,
    plan: Vec<StepSummary>,
    /// The field as stored (on a dry run: as sent).
    field: FieldDef,
}

/// What a script is checked as.
#[derive(Deserialize, Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum ScriptKind {
    /// A condition: true or false.
    Condition,
    /// A value (a formula).
    Value,
}

/// A script to compile and run on a sample record.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptCheck {
    /// An entity of the app.
    entity: Slug,
    /// The Rhai source.
    script: String,
    /// Default `condition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    kind: Option<ScriptKind>,
    /// Sample values of the record by field name (as a client writes them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    record: Option<Map<String, Value>>,
    /// Sample related records by relation name, as they would be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    related: Option<Map<String, Value>>,
}

/// Which stage a script failed at.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScriptStage {
    Compile,
    Run,
}

/// Where and why a script failed.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ScriptError {
    pub line: Option<u64>,
    pub column: Option<u64>,
    pub message: String,
}

/// A script check: `ok` with the value, or where it failed.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScriptResult {
    pub ok: bool,
    /// What it was checked as (when it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub kind: Option<ScriptKind>,
    /// Its result (when it ran).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub value: Option<Value>,
    /// Where it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub stage: Option<ScriptStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub error: Option<ScriptError>,
}

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
    /// The options of a change: the query's, and the app version `If-Match` names.
    pub(crate) fn opts(&self, req: &HttpRequest) -> ApiResult<ChangeOptions> {
        Ok(ChangeOptions {
            dry_run: self.dry_run,
            allow_data_loss: self.allow_data_loss,
            if_match: if_match(req)?,
        })
    }
}

/// An answer that carries the app's version as its `ETag`, for the next change's `If-Match`.
pub(crate) fn versioned(mut builder: actix_web::HttpResponseBuilder, version: i64) -> actix_web::HttpResponseBuilder {
    builder.insert_header((actix_web::http::header::ETAG, etag(version)));
    builder
}

/// The apps of the caller's tenant.
#[utoipa::path(tag = "apps", responses((status = 200, description = "Apps", body = List<AppOut>), (status = 401, body = Problem)))]
#[get("/apps")]
pub async fn list_apps(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_apps(&caller.0).await?)))
}

/// Create an app (`app.schema.json`), optionally with its entities.
#[utoipa::path(tag = "apps", request_body = AppDef, responses((status = 201, description = "The app", body = AppOut), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps")]
pub async fn create_app(engine: web::Data<Engine>, Admin(caller): Admin, body: Def<AppDef>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Created().json(engine.create_app(&caller.0, body.into_inner()).await?))
}

/// An app with its definition.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), responses((status = 200, description = "The app", body = AppOut), (status = 404, body = Problem)))]
#[get("/apps/{app}")]
pub async fn get_app(engine: web::Data<Engine>, caller: Caller, app: web::Path<String>) -> ApiResult<HttpResponse> {
    let a = engine.get_app(&caller.0, &app).await?;
    Ok(versioned(HttpResponse::Ok(), a.version).json(a))
}

/// Change an app's label or description (merge patch).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = AppPatch, responses((status = 200, description = "What changed", body = AppChange), (status = 422, body = Problem)))]
#[patch("/apps/{app}")]
pub async fn patch_app(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    app: web::Path<String>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    // An administrator's: anyone else learns nothing from how the body would be judged.
    caller.0.require_admin()?;
    let body = typed::<AppPatch>(body.into_inner())?;
    let change = engine.patch_app(&caller.0, &app, &body, q.opts(&req)?).await?;
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
    Ok(versioned(HttpResponse::Ok(), change.version).json(AppChange {
        applied: change.applied,
        version: change.version,
        plan: change.plan,
        app: current,
    }))
}

fn entity_of(app: &AppOut, entity: &str) -> Result<EntityDef, Error> {
    app.def
        .entity(entity)
        .cloned()
        .ok_or_else(|| Error::not_found(format!("entity '{entity}' does not exist")))
}

/// The entities of an app.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), responses((status = 200, description = "Entities", body = List<EntityDef>), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities")]
pub async fn list_entities(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let a = engine.get_app(&caller.0, &app).await?;
    Ok(HttpResponse::Ok().json(List::of(a.def.entities)))
}

/// Add an entity (`entity.schema.json`), with its fields if given.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = EntityDef, responses((status = 201, description = "The entity and the plan", body = EntityChange), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/entities")]
pub async fn create_entity(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    req: HttpRequest,
    app: web::Path<String>,
    q: web::Query<ChangeQuery>,
    body: Def<EntityDef>,
) -> ApiResult<HttpResponse> {
    let sent = body.into_inner();
    let change = engine
        .create_entity(&caller.0, &app, sent.clone(), q.opts(&req)?)
        .await?;
    let a = engine.get_app(&caller.0, &app).await?;
    let entity = if change.applied {
        entity_of(&a, sent.name.as_str())?
    } else {
        sent
    };
    Ok(versioned(HttpResponse::Created(), change.version).json(EntityChange {
        applied: change.applied,
        version: change.version,
        plan: change.plan,
        entity,
    }))
}

/// An entity's definition.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path)), responses((status = 200, description = "The entity", body = EntityDef), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities/{entity}")]
pub async fn get_entity(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let a = engine.get_app(&caller.0, &app).await?;
    Ok(HttpResponse::Ok().json(entity_of(&a, &entity)?))
}

/// Rename or relabel an entity (merge patch; renaming is metadata only).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = EntityPatch, responses((status = 200, description = "What changed", body = AppChange), (status = 422, body = Problem)))]
#[patch("/apps/{app}/entities/{entity}")]
pub async fn patch_entity(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    caller.0.require_admin()?;
    let body = typed::<EntityPatch>(body.into_inner())?;
    let change = engine
        .patch_entity(&caller.0, &app, &entity, &body, q.opts(&req)?)
        .await?;
    changed(&engine, &caller, &app, change).await
}

/// Delete an entity and its records.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), responses((status = 200, description = "What changed", body = AppChange), (status = 409, body = Problem)))]
#[delete("/apps/{app}/entities/{entity}")]
pub async fn delete_entity(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let change = engine.delete_entity(&caller.0, &app, &entity, q.opts(&req)?).await?;
    changed(&engine, &caller, &app, change).await
}

/// The fields of an entity.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path)), responses((status = 200, description = "Fields", body = List<FieldDef>), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities/{entity}/fields")]
pub async fn list_fields(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let a = engine.get_app(&caller.0, &app).await?;
    Ok(HttpResponse::Ok().json(List::of(entity_of(&a, &entity)?.fields)))
}

/// Add a field (`field.schema.json`); existing records get its default.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = FieldDef, responses((status = 201, description = "The field and the plan", body = FieldChange), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/entities/{entity}/fields")]
pub async fn create_field(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    q: web::Query<ChangeQuery>,
    body: Def<FieldDef>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let sent = body.into_inner();
    let change = engine
        .create_field(&caller.0, &app, &entity, sent.clone(), q.opts(&req)?)
        .await?;
    let a = engine.get_app(&caller.0, &app).await?;
    let field = a
        .def
        .entity(&entity)
        .and_then(|e| e.field(sent.name.as_str()))
        .cloned()
        .unwrap_or(sent);
    Ok(versioned(HttpResponse::Created(), change.version).json(FieldChange {
        applied: change.applied,
        version: change.version,
        plan: change.plan,
        field,
    }))
}

/// Change a field (merge patch): rename and relabel are metadata only; a type change is planned
/// and refused where it would lose values unless `allow_data_loss=true`.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ("field" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = FieldPatch, responses((status = 200, description = "What changed", body = AppChange), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[patch("/apps/{app}/entities/{entity}/fields/{field}")]
pub async fn patch_field(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity, field) = path.into_inner();
    caller.0.require_admin()?;
    let body = typed::<FieldPatch>(body.into_inner())?;
    let change = engine
        .patch_field(&caller.0, &app, &entity, &field, &body, q.opts(&req)?)
        .await?;
    changed(&engine, &caller, &app, change).await
}

/// Delete a field and its values.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ("field" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), responses((status = 200, description = "What changed", body = AppChange), (status = 404, body = Problem)))]
#[delete("/apps/{app}/entities/{entity}/fields/{field}")]
pub async fn delete_field(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, field) = path.into_inner();
    let change = engine
        .delete_field(&caller.0, &app, &entity, &field, q.opts(&req)?)
        .await?;
    changed(&engine, &caller, &app, change).await
}

/// Compile a script (validation rule, condition, later formulas) for an entity and run it on a
/// sample record: `{entity, script, kind: "condition" | "value", record?}` → `{ok, value}` or
/// `{ok: false, stage: "compile" | "run", error: {line, column, message}}`.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), request_body = ScriptCheck,
    responses((status = 200, description = "Compile result and value", body = ScriptResult), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[post("/apps/{app}/scripts/check")]
pub async fn check_script(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let body = typed::<ScriptCheck>(body.into_inner())?;
    let out = engine.check_script(&caller.0, &app, &body).await?;
    let out: ScriptResult = serde_json::from_value(out).map_err(|e| Error::internal(e.to_string()))?;
    Ok(HttpResponse::Ok().json(out))
}
