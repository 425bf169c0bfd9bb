//! Parts of an app's definition with endpoints of their own: roles, an entity's validation
//! rules and views, listed, read, added, replaced and removed one at a time. Each change is one versioned
//! change of the app (plan included, `dry_run` works); `If-Match` with the app's version (its
//! `ETag`) refuses a change meant for an older version with 412, so two editors cannot drop
//! each other's parts without a word. Every answer carries the app's version as `ETag`.

use actix_web::{HttpRequest, HttpResponse, delete, get, post, put, web};
use serde::Serialize;
use trellis_core::def::{RoleDef, ValidationRule};
use trellis_core::plan::StepSummary;
use trellis_core::view::ViewDef;
use trellis_engine::Engine;
use trellis_engine::apps::ChangeOut;
use trellis_engine::apps::my_views::PersonalView;
use trellis_engine::directory::RoleEntry;
use utoipa::ToSchema;

use crate::extract::{Admin, Caller, Def, JsonObject};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;
use crate::routes::apps::{ChangeQuery, versioned};

/// A role added or replaced, and the plan of the change.
#[derive(Serialize, ToSchema)]
pub struct RoleChange {
    /// Whether the change was stored (false on a dry run, or when it changed nothing).
    applied: bool,
    /// The app's version after the change (also the answer's `ETag`).
    version: i64,
    plan: Vec<StepSummary>,
    /// The role as stored (on a dry run: as sent).
    role: RoleDef,
}

/// A validation rule added or replaced, and the plan of the change.
#[derive(Serialize, ToSchema)]
pub struct ValidationChange {
    /// Whether the change was stored (false on a dry run, or when it changed nothing).
    applied: bool,
    /// The app's version after the change (also the answer's `ETag`).
    version: i64,
    plan: Vec<StepSummary>,
    /// The rule as stored (on a dry run: as sent).
    validation: ValidationRule,
}

/// A view added or replaced, and the plan of the change.
#[derive(Serialize, ToSchema)]
pub struct ViewChange {
    /// Whether the change was stored (false on a dry run, or when it changed nothing).
    applied: bool,
    /// The app's version after the change (also the answer's `ETag`).
    version: i64,
    plan: Vec<StepSummary>,
    /// The view as stored (on a dry run: as sent).
    view: ViewDef,
}

type AppPath = web::Path<String>;
type PartPath = web::Path<(String, String)>;
type EntityPartPath = web::Path<(String, String, String)>;

fn removed(change: ChangeOut) -> HttpResponse {
    versioned(HttpResponse::Ok(), change.version).json(change)
}

// ---------------------------------------------------------------------------------------------
// Roles (listed with their members by `GET /apps/{app}/roles`, in `directory`)
// ---------------------------------------------------------------------------------------------

/// A role of the app with the ids of its members, as the caller reads the definition (a member
/// does not see settings of fields hidden from them). `ETag`: the app's version.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("role" = String, Path)),
    responses((status = 200, description = "The role with its members", body = RoleEntry), (status = 404, body = Problem)))]
#[get("/apps/{app}/roles/{role}")]
pub async fn get_role(engine: web::Data<Engine>, caller: Caller, path: PartPath) -> ApiResult<HttpResponse> {
    let (app, role) = path.into_inner();
    let r = engine.get_role(&caller.0, &app, &role).await?;
    Ok(versioned(HttpResponse::Ok(), r.version).json(r.part))
}

/// Add a role (administrators; 409 when the app has one of the name).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = RoleDef,
    responses((status = 201, description = "The role and the plan", body = RoleChange), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/roles")]
pub async fn create_role(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    req: HttpRequest,
    app: AppPath,
    q: web::Query<ChangeQuery>,
    body: Def<RoleDef>,
) -> ApiResult<HttpResponse> {
    let (change, role) = engine
        .create_role(&caller.0, &app, body.into_inner(), q.opts(&req)?)
        .await?;
    Ok(versioned(HttpResponse::Created(), change.version)
        .insert_header(("Location", format!("/api/v1/apps/{app}/roles/{}", role.name)))
        .json(RoleChange {
            applied: change.applied,
            version: change.version,
            plan: change.plan,
            role,
        }))
}

/// Replace a role whole (administrators; its members stay). The name may be left out; another
/// one than the path's answers 422.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("role" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = RoleDef,
    responses((status = 200, description = "The role and the plan", body = RoleChange), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
#[put("/apps/{app}/roles/{role}")]
pub async fn put_role(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: PartPath,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, name) = path.into_inner();
    let (change, role) = engine.put_role(&caller.0, &app, &name, &body, q.opts(&req)?).await?;
    Ok(versioned(HttpResponse::Ok(), change.version).json(RoleChange {
        applied: change.applied,
        version: change.version,
        plan: change.plan,
        role,
    }))
}

/// Remove a role from the definition (administrators). A pipeline that names it answers 409
/// naming each place; its members are kept for when it is declared again.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("role" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)),
    responses((status = 200, description = "The plan and the app's new version", body = ChangeOut), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem)))]
#[delete("/apps/{app}/roles/{role}")]
pub async fn delete_role(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: PartPath,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, role) = path.into_inner();
    Ok(removed(
        engine.delete_role(&caller.0, &app, &role, q.opts(&req)?).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Validation rules of an entity
// ---------------------------------------------------------------------------------------------

/// An entity's validation rules, as the caller reads the definition (a member does not see
/// rules that read or report on a field hidden from them). `ETag`: the app's version.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path)),
    responses((status = 200, description = "The validation rules", body = List<ValidationRule>), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities/{entity}/validations")]
pub async fn list_validations(engine: web::Data<Engine>, caller: Caller, path: PartPath) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let v = engine.list_validations(&caller.0, &app, &entity).await?;
    Ok(versioned(HttpResponse::Ok(), v.version).json(List::of(v.part)))
}

/// A validation rule of an entity, as the caller reads the definition. `ETag`: the app's version.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ("name" = String, Path)),
    responses((status = 200, description = "The validation rule", body = ValidationRule), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities/{entity}/validations/{name}")]
pub async fn get_validation(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPartPath,
) -> ApiResult<HttpResponse> {
    let (app, entity, name) = path.into_inner();
    let v = engine.get_validation(&caller.0, &app, &entity, &name).await?;
    Ok(versioned(HttpResponse::Ok(), v.version).json(v.part))
}

/// Add a validation rule to an entity (administrators; 409 when it has one of the name). Its
/// scripts must compile and name fields of the entity.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = ValidationRule,
    responses((status = 201, description = "The rule and the plan", body = ValidationChange), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/entities/{entity}/validations")]
pub async fn create_validation(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    req: HttpRequest,
    path: PartPath,
    q: web::Query<ChangeQuery>,
    body: Def<ValidationRule>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let (change, validation) = engine
        .create_validation(&caller.0, &app, &entity, body.into_inner(), q.opts(&req)?)
        .await?;
    Ok(versioned(HttpResponse::Created(), change.version)
        .insert_header((
            "Location",
            format!("/api/v1/apps/{app}/entities/{entity}/validations/{}", validation.name),
        ))
        .json(ValidationChange {
            applied: change.applied,
            version: change.version,
            plan: change.plan,
            validation,
        }))
}

/// Replace a validation rule whole (administrators). The name may be left out; another one
/// than the path's answers 422.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ("name" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = ValidationRule,
    responses((status = 200, description = "The rule and the plan", body = ValidationChange), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
#[put("/apps/{app}/entities/{entity}/validations/{name}")]
pub async fn put_validation(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: EntityPartPath,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity, name) = path.into_inner();
    let (change, validation) = engine
        .put_validation(&caller.0, &app, &entity, &name, &body, q.opts(&req)?)
        .await?;
    Ok(versioned(HttpResponse::Ok(), change.version).json(ValidationChange {
        applied: change.applied,
        version: change.version,
        plan: change.plan,
        validation,
    }))
}

/// Remove a validation rule (administrators).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("entity" = String, Path), ("name" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)),
    responses((status = 200, description = "The plan and the app's new version", body = ChangeOut), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem)))]
#[delete("/apps/{app}/entities/{entity}/validations/{name}")]
pub async fn delete_validation(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: EntityPartPath,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, name) = path.into_inner();
    Ok(removed(
        engine
            .delete_validation(&caller.0, &app, &entity, &name, q.opts(&req)?)
            .await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Views
// ---------------------------------------------------------------------------------------------

/// The app's shared views, as the caller reads the definition (for a member: no column or sort
/// key naming a field hidden from them, and no view that filters, groups or dates by one).
/// `ETag`: the app's version.
#[utoipa::path(tag = "apps", params(("app" = String, Path)),
    responses((status = 200, description = "The views", body = List<ViewDef>), (status = 404, body = Problem)))]
#[get("/apps/{app}/views")]
pub async fn list_views(engine: web::Data<Engine>, caller: Caller, app: AppPath) -> ApiResult<HttpResponse> {
    let v = engine.list_views(&caller.0, &app).await?;
    Ok(versioned(HttpResponse::Ok(), v.version).json(List::of(v.part)))
}

/// A view, as the caller reads the definition. `ETag`: the app's version.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("view" = String, Path)),
    responses((status = 200, description = "The view", body = ViewDef), (status = 404, body = Problem)))]
#[get("/apps/{app}/views/{view}")]
pub async fn get_view(engine: web::Data<Engine>, caller: Caller, path: PartPath) -> ApiResult<HttpResponse> {
    let (app, view) = path.into_inner();
    let v = engine.get_view(&caller.0, &app, &view).await?;
    Ok(versioned(HttpResponse::Ok(), v.version).json(v.part))
}

/// Add a view (`view.schema.json`; administrators; 409 when the app has one of the name).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = ViewDef,
    responses((status = 201, description = "The view and the plan", body = ViewChange), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/views")]
pub async fn create_view(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    req: HttpRequest,
    app: AppPath,
    q: web::Query<ChangeQuery>,
    body: Def<ViewDef>,
) -> ApiResult<HttpResponse> {
    let (change, view) = engine
        .create_view(&caller.0, &app, body.into_inner(), q.opts(&req)?)
        .await?;
    Ok(versioned(HttpResponse::Created(), change.version)
        .insert_header(("Location", format!("/api/v1/apps/{app}/views/{}", view.name)))
        .json(ViewChange {
            applied: change.applied,
            version: change.version,
            plan: change.plan,
            view,
        }))
}

/// Replace a view whole (administrators). The name may be left out; another one than the
/// path's answers 422.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("view" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = ViewDef,
    responses((status = 200, description = "The view and the plan", body = ViewChange), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem), (status = 422, body = Problem)))]
#[put("/apps/{app}/views/{view}")]
pub async fn put_view(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: PartPath,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, name) = path.into_inner();
    let (change, view) = engine.put_view(&caller.0, &app, &name, &body, q.opts(&req)?).await?;
    Ok(versioned(HttpResponse::Ok(), change.version).json(ViewChange {
        applied: change.applied,
        version: change.version,
        plan: change.plan,
        view,
    }))
}

/// Remove a view (administrators).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("view" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)),
    responses((status = 200, description = "The plan and the app's new version", body = ChangeOut), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 412, body = Problem)))]
#[delete("/apps/{app}/views/{view}")]
pub async fn delete_view(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: PartPath,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, view) = path.into_inner();
    Ok(removed(
        engine.delete_view(&caller.0, &app, &view, q.opts(&req)?).await?,
    ))
}

// ---------------------------------------------------------------------------------------------
// Personal views (the caller's own; `trellis_engine::apps::my_views`)
// ---------------------------------------------------------------------------------------------

/// The caller's personal views of the app, oldest first, as they read the app today: columns
/// and sort keys of fields they no longer see are left out; a filter, grouping or date field
/// naming one is left out and marks the view `broken`; `gone` names fields the entity no longer
/// has. Views of entities they may no longer read are left out.
#[utoipa::path(tag = "apps", params(("app" = String, Path)),
    responses((status = 200, description = "The caller's views", body = List<PersonalView>), (status = 404, body = Problem)))]
#[get("/apps/{app}/my/views")]
pub async fn list_my_views(engine: web::Data<Engine>, caller: Caller, app: AppPath) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.my_views(&caller.0, &app).await?)))
}

/// Add a personal view (`view.schema.json`, without `default`): its entity one the caller may
/// read, its fields ones they see (a hidden field is unknown). 409 when they have one of the
/// name; at most 100 per user and app.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), request_body = ViewDef,
    responses((status = 201, description = "The view as stored", body = PersonalView), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/my/views")]
pub async fn create_my_view(
    engine: web::Data<Engine>,
    caller: Caller,
    app: AppPath,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let view = engine.create_my_view(&caller.0, &app, &body).await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/apps/{app}/my/views/{}", view.view.name)))
        .json(view))
}

/// One of the caller's personal views (404 for another user's).
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("view" = String, Path)),
    responses((status = 200, description = "The view", body = PersonalView), (status = 404, body = Problem)))]
#[get("/apps/{app}/my/views/{view}")]
pub async fn get_my_view(engine: web::Data<Engine>, caller: Caller, path: PartPath) -> ApiResult<HttpResponse> {
    let (app, view) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.my_view(&caller.0, &app, &view).await?))
}

/// Replace one of the caller's personal views whole, with the checks of adding one. The name
/// may be left out; another one than the path's answers 422.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("view" = String, Path)), request_body = ViewDef,
    responses((status = 200, description = "The view as stored", body = PersonalView), (status = 404, body = Problem),
        (status = 422, body = Problem)))]
#[put("/apps/{app}/my/views/{view}")]
pub async fn put_my_view(
    engine: web::Data<Engine>,
    caller: Caller,
    path: PartPath,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, view) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.put_my_view(&caller.0, &app, &view, &body).await?))
}

/// Remove one of the caller's personal views.
#[utoipa::path(tag = "apps", params(("app" = String, Path), ("view" = String, Path)),
    responses((status = 204, description = "Removed"), (status = 404, body = Problem)))]
#[delete("/apps/{app}/my/views/{view}")]
pub async fn delete_my_view(engine: web::Data<Engine>, caller: Caller, path: PartPath) -> ApiResult<HttpResponse> {
    let (app, view) = path.into_inner();
    engine.delete_my_view(&caller.0, &app, &view).await?;
    Ok(HttpResponse::NoContent().finish())
}
