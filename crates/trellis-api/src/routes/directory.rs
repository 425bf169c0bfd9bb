//! The tenant directory: users, role membership per app, delegations, business calendars, and
//! the caller's in-app inbox.

use actix_web::{HttpResponse, delete, get, post, put, web};
use serde::Deserialize;
use serde_json::Value;
use trellis_engine::Engine;
use trellis_engine::directory::{DelegationEntry, RoleEntry, UserEntry};
use trellis_engine::notifications::Inbox;
use utoipa::{IntoParams, ToSchema};

use trellis_core::calendar::CalendarDef;

use crate::extract::{Body, Caller};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;

// Body fields default to empty so that a missing one is answered 422 with the others' problems,
// not 400 for the first.

/// A new user of the caller's tenant.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRequest {
    /// Unique in the tenant (409 when taken); stored in lower case.
    #[serde(default)]
    #[schema(required = true, max_length = 254, pattern = r"^[^\s@]+@[^\s]+$")]
    email: String,
    /// 1 to 100 characters, not only spaces.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 100, pattern = r"\S")]
    name: String,
    /// 10 to 1024 characters, not one character repeated, not one of the most used passwords,
    /// not the e-mail.
    #[serde(default)]
    #[schema(required = true, min_length = 10, max_length = 1024, pattern = r"^(.)(?!\1+$)")]
    password: String,
    #[serde(default)]
    is_admin: bool,
}

/// A user to add to a role.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberRequest {
    /// Id of a user of the caller's tenant.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    user: String,
}

/// A delegation of the caller's work to another user while away.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelegationRequest {
    /// Id of another user of the tenant.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    delegate: String,
    /// RFC 3339.
    #[serde(default)]
    #[schema(required = true, format = DateTime)]
    starts_at: String,
    /// RFC 3339; after `starts_at`, in the future, at most 366 days after `starts_at`.
    #[serde(default)]
    #[schema(required = true, format = DateTime)]
    ends_at: String,
}

/// Which notifications to list.
#[derive(Deserialize, IntoParams)]
pub struct InboxQuery {
    /// Only unread ones.
    #[serde(default)]
    unread: bool,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Users
// ---------------------------------------------------------------------------------------------

/// The users of the caller's tenant.
#[utoipa::path(tag = "directory", responses((status = 200, description = "The users", body = List<UserEntry>), (status = 401, body = Problem)))]
#[get("/users")]
pub async fn list_users(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_users(&caller.0).await?)))
}

/// Add a user to the caller's tenant (administrators only).
#[utoipa::path(tag = "directory", request_body = UserRequest, responses((status = 201, description = "The user", body = UserEntry), (status = 403, body = Problem), (status = 409, description = "The e-mail is taken", body = Problem), (status = 422, body = Problem)))]
#[post("/users")]
pub async fn create_user(
    engine: web::Data<Engine>,
    caller: Caller,
    body: Body<UserRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let user = engine
        .create_tenant_user(&caller.0, &b.email, &b.name, &b.password, b.is_admin)
        .await?;
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/api/v1/users/{}", user.id)))
        .json(user))
}

/// A user of the caller's tenant.
#[utoipa::path(tag = "directory", params(("id" = String, Path)), responses((status = 200, description = "The user", body = UserEntry), (status = 404, body = Problem)))]
#[get("/users/{id}")]
pub async fn get_user(engine: web::Data<Engine>, caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.get_user(&caller.0, &id).await?))
}

// ---------------------------------------------------------------------------------------------
// Role membership
// ---------------------------------------------------------------------------------------------

/// The roles an app declares, each with the ids of its members.
#[utoipa::path(tag = "directory", params(("app" = String, Path)), responses((status = 200, description = "The roles with their members", body = List<RoleEntry>), (status = 404, body = Problem)))]
#[get("/apps/{app}/roles")]
pub async fn list_roles(engine: web::Data<Engine>, caller: Caller, app: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_roles(&caller.0, &app).await?)))
}

/// Make a user a member of a role (administrators only; adding a member twice is harmless).
#[utoipa::path(tag = "directory", params(("app" = String, Path), ("role" = String, Path)), request_body = MemberRequest, responses((status = 200, description = "The role with its members", body = RoleEntry), (status = 403, body = Problem), (status = 404, description = "No such app or role", body = Problem), (status = 422, description = "Not a user of the tenant", body = Problem)))]
#[post("/apps/{app}/roles/{role}/members")]
pub async fn add_role_member(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String)>,
    body: Body<MemberRequest>,
) -> ApiResult<HttpResponse> {
    let (app, role) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.add_role_member(&caller.0, &app, &role, &body.user).await?))
}

/// Remove a user from a role (administrators only).
#[utoipa::path(tag = "directory", params(("app" = String, Path), ("role" = String, Path), ("user" = String, Path)), responses((status = 204, description = "Removed"), (status = 403, body = Problem), (status = 404, description = "No such app, or not a member", body = Problem)))]
#[delete("/apps/{app}/roles/{role}/members/{user}")]
pub async fn remove_role_member(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, role, user) = path.into_inner();
    engine.remove_role_member(&caller.0, &app, &role, &user).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------------
// Delegations
// ---------------------------------------------------------------------------------------------

/// Let another user act for the caller between two times (at most a year).
#[utoipa::path(tag = "directory", request_body = DelegationRequest, responses((status = 201, description = "The delegation", body = DelegationEntry), (status = 422, body = Problem)))]
#[post("/me/delegations")]
pub async fn create_delegation(
    engine: web::Data<Engine>,
    caller: Caller,
    body: Body<DelegationRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.into_inner();
    let d = engine
        .create_delegation(&caller.0, &b.delegate, &b.starts_at, &b.ends_at)
        .await?;
    Ok(HttpResponse::Created().json(d))
}

/// The delegations the caller gave, newest first.
#[utoipa::path(tag = "directory", responses((status = 200, description = "The delegations", body = List<DelegationEntry>), (status = 401, body = Problem)))]
#[get("/me/delegations")]
pub async fn list_delegations(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_delegations(&caller.0).await?)))
}

// ---------------------------------------------------------------------------------------------
// Business calendars
// ---------------------------------------------------------------------------------------------

/// The names of the tenant's business calendars.
#[utoipa::path(tag = "directory", responses((status = 200, description = "The calendars' names", body = List<trellis_core::Slug>), (status = 401, body = Problem)))]
#[get("/calendars")]
pub async fn list_calendars(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_calendars(&caller.0).await?)))
}

/// A business calendar's definition (`calendar.schema.json`).
#[utoipa::path(tag = "directory", params(("name" = String, Path)), responses((status = 200, description = "The definition", body = CalendarDef), (status = 404, body = Problem)))]
#[get("/calendars/{name}")]
pub async fn get_calendar(
    engine: web::Data<Engine>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.get_calendar(&caller.0, &name).await?))
}

/// Create or replace a business calendar (administrators only); every problem is listed.
#[utoipa::path(tag = "directory", params(("name" = String, Path)), request_body = CalendarDef, responses((status = 200, description = "Replaced", body = CalendarDef), (status = 201, description = "Created", body = CalendarDef), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[put("/calendars/{name}")]
pub async fn put_calendar(
    engine: web::Data<Engine>,
    caller: Caller,
    name: web::Path<String>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (def, created) = engine.put_calendar(&caller.0, &name, &body).await?;
    Ok(if created {
        HttpResponse::Created()
            .insert_header(("Location", format!("/api/v1/calendars/{name}")))
            .json(def)
    } else {
        HttpResponse::Ok().json(def)
    })
}

/// Delete a business calendar (administrators only).
#[utoipa::path(tag = "directory", params(("name" = String, Path)), responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/calendars/{name}")]
pub async fn delete_calendar(
    engine: web::Data<Engine>,
    caller: Caller,
    name: web::Path<String>,
) -> ApiResult<HttpResponse> {
    engine.delete_calendar(&caller.0, &name).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------------
// Inbox
// ---------------------------------------------------------------------------------------------

/// The caller's notifications, newest first, and how many are unread.
#[utoipa::path(tag = "notifications", params(InboxQuery), responses((status = 200, description = "A page of the inbox", body = Inbox), (status = 400, body = Problem)))]
#[get("/notifications")]
pub async fn list_notifications(
    engine: web::Data<Engine>,
    caller: Caller,
    q: web::Query<InboxQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.list_notifications(&caller.0, q.unread, q.limit).await?))
}

/// Mark one of the caller's notifications read.
#[utoipa::path(tag = "notifications", params(("id" = String, Path)), responses((status = 204, description = "Read"), (status = 404, body = Problem)))]
#[post("/notifications/{id}/read")]
pub async fn read_notification(
    engine: web::Data<Engine>,
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    engine.mark_notification_read(&caller.0, &id).await?;
    Ok(HttpResponse::NoContent().finish())
}
