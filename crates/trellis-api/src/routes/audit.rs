//! The audit trail, tenant settings and handover (administrators only).

use actix_web::{HttpResponse, get, post, put, web};
use serde::Deserialize;
use trellis_engine::Engine;
use utoipa::IntoParams;

use crate::extract::{Caller, JsonObject};
use crate::problem::{ApiResult, Problem};

/// A page of the audit trail.
#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// 1 to 1000 (default 100).
    limit: Option<u64>,
}

/// An app's audit trail, newest first: record events and definition and role-membership changes
/// (`entity` `$app` / `$roles`).
#[utoipa::path(tag = "apps", params(("app" = String, Path), AuditQuery), responses((status = 200, description = "`{data: [{id, at, kind, actor, via, entity, record_id, ...}], next_cursor}`", body = Object), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/apps/{app}/audit")]
pub async fn app_audit(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    q: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.app_audit(&caller.0, &app, q.cursor.as_deref(), q.limit).await?))
}

/// Hand a user's records over to other users, round-robin, all or nothing.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), request_body = Object, responses((status = 200, description = "`{moved, by_owner}`", body = Object), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/handover")]
pub async fn handover(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.handover(&caller.0, &app, &body).await?))
}

/// The tenant's settings.
#[utoipa::path(tag = "directory", responses((status = 200, description = "`{audit_retention_days}`", body = Object), (status = 401, body = Problem)))]
#[get("/settings")]
pub async fn get_settings(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.settings(&caller.0).await?))
}

/// Change the tenant's settings (administrators only): `audit_retention_days` (1–36500, or null).
#[utoipa::path(tag = "directory", request_body = Object, responses((status = 200, description = "The settings", body = Object), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[put("/settings")]
pub async fn put_settings(engine: web::Data<Engine>, caller: Caller, body: JsonObject) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.put_settings(&caller.0, &body).await?))
}
