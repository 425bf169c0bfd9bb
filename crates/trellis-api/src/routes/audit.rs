//! The audit trail, tenant settings and handover (administrators only).

use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_engine::Engine;
use trellis_engine::settings::{SmsSettings, SmtpSettings};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Body, Caller, double_option};
use crate::problem::{ApiResult, Problem};

/// A page of the audit trail.
#[derive(Deserialize, IntoParams)]
pub struct AuditQuery {
    /// `next_cursor` of the page before.
    cursor: Option<String>,
    /// 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// An app's audit trail, newest first: record events and definition and role-membership changes
/// (`entity` `$app` / `$roles`).
#[utoipa::path(tag = "apps", params(("app" = String, Path), AuditQuery), responses((status = 200, description = "A page of the trail", body = trellis_engine::audit::AuditPage), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/apps/{app}/audit")]
pub async fn app_audit(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    q: web::Query<AuditQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.app_audit(&caller.0, &app, q.cursor.as_deref(), q.limit).await?))
}

/// Whose records go to whom.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HandoverRequest {
    /// Id of the user whose records are handed over (422 when not a user of the tenant).
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    from: String,
    /// Ids of the active users who receive them, round-robin, each once.
    #[serde(default)]
    #[schema(required = true, min_items = 1, max_items = 100)]
    to: Vec<String>,
    /// The entities whose records move (default: all of the app's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entities: Option<Vec<String>>,
    /// Only the records this filter matches (`filter.schema.json`), in each entity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    filter: Option<Value>,
}

/// Hand a user's records over to other users, round-robin, all or nothing.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), request_body = HandoverRequest, responses((status = 200, description = "What moved", body = trellis_engine::directory::handover::HandoverOut), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/handover")]
pub async fn handover(
    engine: web::Data<Engine>,
    caller: Caller,
    app: web::Path<String>,
    body: Body<HandoverRequest>,
) -> ApiResult<HttpResponse> {
    let body = serde_json::to_value(body.into_inner()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(engine.handover(&caller.0, &app, &body).await?))
}

/// A change of settings: a member left out keeps its value.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    /// Days audit events are kept, 1 to 36500; `null`: for ever.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 36500)]
    audit_retention_days: Option<Option<i64>>,
    /// 1 to 10000000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 10_000_000)]
    automation_runs_per_minute: Option<i64>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    smtp: Option<Option<SmtpSettings>>,
    /// `null` removes it.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    sms: Option<Option<SmsSettings>>,
    /// An IANA time zone (`Asia/Shanghai`) in which reports cut days, weeks and months.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 64)]
    time_zone: Option<String>,
}

/// The tenant's settings.
#[utoipa::path(tag = "directory", responses((status = 200, description = "The settings", body = trellis_engine::settings::Settings), (status = 401, body = Problem)))]
#[get("/settings")]
pub async fn get_settings(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.settings(&caller.0).await?))
}

/// Change the tenant's settings (administrators only).
#[utoipa::path(tag = "directory", request_body = SettingsRequest, responses((status = 200, description = "The settings", body = trellis_engine::settings::Settings), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[put("/settings")]
pub async fn put_settings(
    engine: web::Data<Engine>,
    caller: Caller,
    body: Body<SettingsRequest>,
) -> ApiResult<HttpResponse> {
    let body = serde_json::to_value(body.into_inner()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(engine.put_settings(&caller.0, &body).await?))
}
