//! The audit trail, tenant settings and handover (administrators only).

use std::collections::BTreeMap;

use actix_web::{HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_core::status::EventKind;
use trellis_engine::Engine;
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

/// An event of the audit trail or of a record's history: these members, and those of its kind
/// (`changes` as `{field: {from, to}}`, a stage move's `from`/`to`, an approval's, …).
#[derive(ToSchema)]
#[allow(dead_code)] // documents the answer the engine builds
pub struct EventBody {
    id: String,
    #[schema(format = DateTime)]
    at: String,
    /// What happened (`created`, `updated`, `stage_changed`, `app_changed`, …).
    kind: EventKind,
    /// The user who acted (none for the system).
    actor: Option<String>,
    /// How: `api`, `ui`, `rule:{name}`, `hook:{key}`, …
    via: Option<String>,
}

/// A page of the audit trail, newest first.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the answer the engine builds
pub struct AuditPage {
    data: Vec<AuditEventBody>,
    /// The `cursor` of the next page; none on the last.
    next_cursor: Option<String>,
}

/// An event of an app's audit trail: an `EventBody` with the entity and record.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the answer the engine builds
pub struct AuditEventBody {
    id: String,
    #[schema(format = DateTime)]
    at: String,
    kind: EventKind,
    actor: Option<String>,
    via: Option<String>,
    /// The entity's name, or `$app` / `$roles` for definition and membership changes.
    entity: String,
    record_id: String,
}

/// An app's audit trail, newest first: record events and definition and role-membership changes
/// (`entity` `$app` / `$roles`).
#[utoipa::path(tag = "apps", params(("app" = String, Path), AuditQuery), responses((status = 200, description = "A page of the trail", body = AuditPage), (status = 403, body = Problem), (status = 404, body = Problem)))]
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

/// What a handover moved.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the answer the engine builds
pub struct HandoverBody {
    /// Records moved in all.
    moved: u64,
    /// Records each receiver got, by user id.
    by_owner: BTreeMap<String, u64>,
}

/// Hand a user's records over to other users, round-robin, all or nothing.
#[utoipa::path(tag = "apps", params(("app" = String, Path)), request_body = HandoverRequest, responses((status = 200, description = "What moved", body = HandoverBody), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
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

/// How SMTP talks to the server: `starttls` (default), `tls` or `none`.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    None,
    Starttls,
    Tls,
}

/// The tenant's SMTP server, for the e-mail action.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 65535)]
    port: Option<u16>,
    /// `Name <address>` or an address.
    from: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    /// Answered as `********`; sent back so, the stored password stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tls: Option<SmtpTls>,
    /// Per SMTP command, 100 ms to 120 s (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 120_000)]
    timeout_ms: Option<u64>,
}

/// The tenant's SMS provider, for the SMS action.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSettings {
    /// An http(s) URL.
    #[schema(pattern = "^https?://")]
    url: String,
    /// Answered as `********`; sent back so, the stored token stays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    from: Option<String>,
    /// Per request, 100 ms to 60 s (default 10 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 100, maximum = 60_000)]
    timeout_ms: Option<u64>,
}

/// The tenant's settings.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the answer the engine builds
pub struct SettingsBody {
    /// Days audit events are kept; none: for ever.
    audit_retention_days: Option<i64>,
    /// Rule runs the tenant's automation starts per minute at most.
    automation_runs_per_minute: i64,
    smtp: Option<SmtpSettings>,
    sms: Option<SmsSettings>,
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
}

/// The tenant's settings.
#[utoipa::path(tag = "directory", responses((status = 200, description = "The settings", body = SettingsBody), (status = 401, body = Problem)))]
#[get("/settings")]
pub async fn get_settings(engine: web::Data<Engine>, caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.settings(&caller.0).await?))
}

/// Change the tenant's settings (administrators only).
#[utoipa::path(tag = "directory", request_body = SettingsRequest, responses((status = 200, description = "The settings", body = SettingsBody), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[put("/settings")]
pub async fn put_settings(
    engine: web::Data<Engine>,
    caller: Caller,
    body: Body<SettingsRequest>,
) -> ApiResult<HttpResponse> {
    let body = serde_json::to_value(body.into_inner()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(engine.put_settings(&caller.0, &body).await?))
}
