//! Automation: rules (kept in the app definition), their runs and dry runs, inbound webhooks,
//! manual runs on a record, and retries of dead jobs.

use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use trellis_engine::Engine;
use utoipa::{IntoParams, ToSchema};

use trellis_core::automation::RuleDef;
use trellis_engine::apps::rules::RuleEntry;

use crate::extract::{Admin, Body, Caller, Def, JsonObject, double_option, typed};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;
use crate::routes::apps::{AppChange, ChangeQuery, changed, versioned};

/// A change to a rule (RFC 7396 merge patch): keys left out stay, `null` removes an optional
/// one, e.g. `{"enabled": false}`. A rule keeps its name (its runs are kept under it).
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    /// The rule's own name.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    name: Option<Option<trellis_core::Slug>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    label: Option<Option<trellis_core::Label>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    enabled: Option<Option<bool>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    trigger: Option<Option<trellis_core::automation::Trigger>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 4000)]
    condition: Option<Option<String>>,
    /// Replaces the whole list.
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, min_items = 1, max_items = 20)]
    actions: Option<Option<Vec<trellis_core::automation::ActionDef>>>,
    #[serde(default, deserialize_with = "double_option", skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 20)]
    max_attempts: Option<Option<u32>>,
}

type RulePath = web::Path<(String, String)>;

/// The app's rules, each with its health (`failing` when its last runs failed).
#[utoipa::path(tag = "automation", params(("app" = String, Path)),
    responses((status = 200, description = "The rules with their health", body = List<RuleEntry>), (status = 404, body = Problem)))]
#[get("/apps/{app}/rules")]
pub async fn list_rules(engine: web::Data<Engine>, caller: Caller, path: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_rules(&caller.0, &path).await?)))
}

/// Add a rule (`rule.schema.json`): trigger, condition, actions.
#[utoipa::path(tag = "automation", params(("app" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = RuleDef,
    responses((status = 200, description = "What changed", body = AppChange), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/apps/{app}/rules")]
pub async fn create_rule(
    engine: web::Data<Engine>,
    Admin(caller): Admin,
    req: HttpRequest,
    path: web::Path<String>,
    q: web::Query<ChangeQuery>,
    body: Def<RuleDef>,
) -> ApiResult<HttpResponse> {
    let change = engine
        .create_rule(&caller.0, &path, body.into_inner(), q.opts(&req)?)
        .await?;
    changed(&engine, &caller, &path, change).await
}

/// A rule.
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("rule" = String, Path)),
    responses((status = 200, description = "The rule (secrets masked; for members who do not build the app, without condition and actions)", body = RuleDef), (status = 404, body = Problem)))]
#[get("/apps/{app}/rules/{rule}")]
pub async fn get_rule(engine: web::Data<Engine>, caller: Caller, path: RulePath) -> ApiResult<HttpResponse> {
    let (app, rule) = path.into_inner();
    let r = engine.get_rule(&caller.0, &app, &rule).await?;
    Ok(versioned(HttpResponse::Ok(), r.version).json(r.part))
}

/// Replace a rule whole (`rule.schema.json`; the name may be left out, another one than the
/// path's answers 422). A masked secret sent back keeps the stored one.
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("rule" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = RuleDef,
    responses((status = 200, description = "What changed", body = AppChange), (status = 404, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
#[put("/apps/{app}/rules/{rule}")]
pub async fn put_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: RulePath,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, rule) = path.into_inner();
    let change = engine.put_rule(&caller.0, &app, &rule, &body, q.opts(&req)?).await?;
    changed(&engine, &caller, &app, change).await
}

/// Change a rule (merge patch), e.g. `{"enabled": false}`.
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("rule" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body = RulePatch,
    responses((status = 200, description = "What changed", body = AppChange), (status = 422, body = Problem)))]
#[patch("/apps/{app}/rules/{rule}")]
pub async fn patch_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: RulePath,
    q: web::Query<ChangeQuery>,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, rule) = path.into_inner();
    // An administrator's: anyone else learns nothing from how the body would be judged.
    caller.0.require_admin()?;
    let body = typed::<RulePatch>(body.into_inner())?;
    let change = engine.patch_rule(&caller.0, &app, &rule, &body, q.opts(&req)?).await?;
    changed(&engine, &caller, &app, change).await
}

/// Remove a rule (its runs stay readable in the database).
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("rule" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)),
    responses((status = 200, description = "What changed", body = AppChange), (status = 404, body = Problem)))]
#[delete("/apps/{app}/rules/{rule}")]
pub async fn delete_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: RulePath,
    q: web::Query<ChangeQuery>,
) -> ApiResult<HttpResponse> {
    let (app, rule) = path.into_inner();
    let change = engine.delete_rule(&caller.0, &app, &rule, q.opts(&req)?).await?;
    changed(&engine, &caller, &app, change).await
}

#[derive(Deserialize, IntoParams)]
pub struct RunsQuery {
    /// 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

/// A rule's runs, newest first: trigger, condition result, each action's status, attempts,
/// error and duration.
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("rule" = String, Path), RunsQuery),
    responses((status = 200, description = "The runs", body = List<trellis_engine::automation::runs::RunOut>), (status = 404, body = Problem)))]
#[get("/apps/{app}/rules/{rule}/runs")]
pub async fn list_rule_runs(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RulePath,
    q: web::Query<RunsQuery>,
) -> ApiResult<HttpResponse> {
    let (app, rule) = path.into_inner();
    Ok(HttpResponse::Ok().json(List::of(engine.rule_runs(&caller.0, &app, &rule, q.limit).await?)))
}

/// The record a dry run evaluates.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum TestRecord {
    /// A record's id, read as the caller reads it.
    Id(String),
    /// Field values of a record that need not exist.
    Values(Map<String, Value>),
}

/// A dry run of a rule.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRuleRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    record: Option<TestRecord>,
    /// The payload an inbound webhook would carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    payload: Option<Value>,
}

/// The event an accepted request wrote; the rules run from it.
#[derive(Serialize, ToSchema)]
pub struct EventAccepted {
    event: String,
}

/// Dry run: `{record: id | {values}, payload?}` → would it match, and what each action would
/// do. Nothing is written or sent.
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("rule" = String, Path)), request_body = TestRuleRequest,
    responses((status = 200, description = "What it would do", body = trellis_engine::automation::test::RuleTest), (status = 404, body = Problem)))]
#[post("/apps/{app}/rules/{rule}/test")]
pub async fn test_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RulePath,
    body: Body<TestRuleRequest>,
) -> ApiResult<HttpResponse> {
    let (app, rule) = path.into_inner();
    let body = serde_json::to_value(body.into_inner()).unwrap_or_default();
    Ok(HttpResponse::Ok().json(engine.test_rule(&caller.0, &app, &rule, &body).await?))
}

/// An inbound webhook: starts the rule listening on this key. Authenticated by the rule's
/// secret in `X-Trellis-Secret`, not by a bearer token.
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("key" = String, Path), ("X-Trellis-Secret" = String, Header)),
    request_body(content = Value, description = "Any JSON: the payload the rule sees (none: `null`)"),
    responses((status = 202, description = "The event written", body = EventAccepted), (status = 401, body = Problem)))]
#[post("/hooks/{app}/{key}")]
pub async fn inbound_hook(
    engine: web::Data<Engine>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: Option<web::Json<Value>>,
) -> ApiResult<HttpResponse> {
    let (app, key) = path.into_inner();
    let secret = req.headers().get("x-trellis-secret").and_then(|v| v.to_str().ok());
    let payload = body.map(|b| b.into_inner()).unwrap_or(Value::Null);
    let id = engine.inbound_hook(&app, &key, secret, payload).await?;
    Ok(HttpResponse::Accepted().json(EventAccepted { event: id }))
}

/// Run a manual rule on a record (a button).
#[utoipa::path(tag = "automation", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), ("rule" = String, Path)),
    responses((status = 202, description = "The event written", body = EventAccepted), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[post("/data/{app}/{entity}/{id}/rules/{rule}/run")]
pub async fn run_rule(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id, rule) = path.into_inner();
    let e = engine.run_rule_on(&caller.0, &app, &entity, &id, &rule).await?;
    Ok(HttpResponse::Accepted().json(EventAccepted { event: e }))
}

/// Retry a dead job (admin): it is queued again with fresh attempts.
#[utoipa::path(tag = "automation", params(("id" = String, Path)),
    responses((status = 200, description = "The job", body = trellis_engine::automation::runs::JobOut), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/jobs/{id}/retry")]
pub async fn retry_job(engine: web::Data<Engine>, caller: Caller, path: web::Path<String>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.retry_job(&caller.0, &path).await?))
}
