//! Pipelines: the definition per entity, transitions, the next moves of a record, its history,
//! the board, and approvals.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use serde::Deserialize;
use serde_json::Value;
use trellis_engine::Engine;
use trellis_engine::pipelines::TransitionOut;
use trellis_engine::records::ListParams;
use utoipa::IntoParams;

use crate::extract::{Caller, JsonObject, etag, if_match, not_an_object};
use crate::problem::{ApiResult, Problem};
use crate::routes::apps::{AppChange, ChangeQuery, changed};
use trellis_core::pipeline::PipelineDef;

type EntityPath = web::Path<(String, String)>;
type RecordPath = web::Path<(String, String, String)>;

/// The pipeline of an entity (`null` when it has none).
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path)),
    responses((status = 200, description = "The pipeline (`pipeline.schema.json`), or `null`", body = Option<PipelineDef>), (status = 404, body = Problem)))]
#[get("/apps/{app}/entities/{entity}/pipeline")]
pub async fn get_pipeline(engine: web::Data<Engine>, caller: Caller, path: EntityPath) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.get_pipeline(&caller.0, &app, &entity).await?))
}

/// Set or replace the pipeline of an entity (`null` removes it). Bad definitions (unknown
/// stage, unreachable stage, guard that does not compile, unknown role) are refused naming each.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery), request_body(content = Option<PipelineDef>, description = "The pipeline, or `null` to remove it"),
    responses((status = 200, description = "What changed", body = AppChange), (status = 422, body = Problem)))]
#[put("/apps/{app}/entities/{entity}/pipeline")]
pub async fn put_pipeline(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    q: web::Query<ChangeQuery>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    // A pipeline is an object; `null` removes it. Anything else is a mistake, not a removal.
    if !(body.is_object() || body.is_null()) {
        return Err(not_an_object(&body).into());
    }
    let change = engine.put_pipeline(&caller.0, &app, &entity, &body, q.opts()).await?;
    changed(&engine, &caller, &app, change).await
}

/// Move a record to another stage: `{to, comment?, attachments?: [file id | {file, kind}]}`.
/// 200 with the record when it moved; 202 with the approval when the move waits for one; 409
/// `transition_blocked` listing every unmet condition.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = Object,
    responses((status = 200, description = "{status: moved, record}", body = Object), (status = 202, description = "{status: pending_approval, record, approval}", body = Object),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/{id}/transition")]
pub async fn transition_record(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: RecordPath,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    let expected = if_match(&req)?;
    Ok(
        match engine
            .transition(&caller.0, &app, &entity, &id, &body, expected)
            .await?
        {
            TransitionOut::Done(r) => HttpResponse::Ok()
                .insert_header((header::ETAG, etag(r.version)))
                .json(serde_json::json!({"status": "moved", "record": r.json})),
            TransitionOut::Pending { record, approval } => HttpResponse::Accepted()
                .insert_header((header::ETAG, etag(record.version)))
                .json(serde_json::json!({"status": "pending_approval", "record": record.json, "approval": approval})),
        },
    )
}

/// The moves the caller could make from the record's stage, each with what blocks it now, and
/// the stage's SOP.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "{stage, pending_stage, sop, transitions}", body = Object), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/{id}/transitions")]
pub async fn list_transitions(engine: web::Data<Engine>, caller: Caller, path: RecordPath) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.next_transitions(&caller.0, &app, &entity, &id).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–1000 (default 100).
    limit: Option<u64>,
}

/// A record's history, oldest first: creation, field changes (from → to), stage moves with the
/// time spent in the stage left, approvals and votes, SLA breaches, deletion.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), HistoryQuery),
    responses((status = 200, description = "{data, next_cursor}", body = Object), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/{id}/history")]
pub async fn get_history(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    q: web::Query<HistoryQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        engine
            .record_history(&caller.0, &app, &entity, &id, q.cursor.as_deref(), q.limit)
            .await?,
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct BoardQuery {
    /// JSON filter applied to every column.
    filter: Option<String>,
    /// Text searched in every text field.
    q: Option<String>,
    /// Sort of the records in each column.
    sort: Option<String>,
    /// Fields to answer with.
    fields: Option<String>,
    /// Records per column, 1–1000 (default 20).
    limit: Option<u64>,
    /// Comma-separated number fields summed per column.
    sum: Option<String>,
}

/// The board of an entity's pipeline: per stage, in order, the count, sums and first records
/// under one filter, and the stages the caller may move records to.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), BoardQuery),
    responses((status = 200, description = "{stages: [{key, label, kind, count, sums, records, next_cursor, may_move_to}]}", body = Object), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/board")]
pub async fn get_board(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    q: web::Query<BoardQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let q = q.into_inner();
    let p = ListParams {
        filter: q.filter,
        sort: q.sort,
        fields: q.fields,
        q: q.q,
        limit: q.limit,
        ..Default::default()
    };
    Ok(HttpResponse::Ok().json(engine.board(&caller.0, &app, &entity, &p, q.sum.as_deref()).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct ApprovalsQuery {
    /// pending (default), approved or rejected.
    status: Option<String>,
    /// Only approvals the caller may decide (themselves or by delegation).
    #[serde(default)]
    mine: bool,
}

/// Approvals of the tenant.
#[utoipa::path(tag = "pipelines", params(ApprovalsQuery),
    responses((status = 200, description = "{data}", body = Object), (status = 400, body = Problem)))]
#[get("/approvals")]
pub async fn list_approvals(
    engine: web::Data<Engine>,
    caller: Caller,
    q: web::Query<ApprovalsQuery>,
) -> ApiResult<HttpResponse> {
    let status = q.status.as_deref().unwrap_or("pending");
    Ok(HttpResponse::Ok().json(engine.list_approvals(&caller.0, status, q.mine).await?))
}

/// One approval with its votes.
#[utoipa::path(tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, description = "The approval", body = Object), (status = 404, body = Problem)))]
#[get("/approvals/{id}")]
pub async fn get_approval(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.get_approval(&caller.0, &path).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Decision {
    comment: Option<String>,
}

/// Approve (`{comment?}`); the last approval the policy needs moves the record.
#[utoipa::path(tag = "pipelines", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, description = "The approval", body = Object), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/approvals/{id}/approve")]
pub async fn approve_approval(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
    body: Option<web::Json<Decision>>,
) -> ApiResult<HttpResponse> {
    let comment = body.as_ref().and_then(|b| b.comment.as_deref());
    Ok(HttpResponse::Ok().json(engine.decide_approval(&caller.0, &path, true, comment).await?))
}

/// Reject (`{comment}`: the reason, required); the record stays in its stage.
#[utoipa::path(tag = "pipelines", params(("id" = String, Path)), request_body = Object,
    responses((status = 200, description = "The approval", body = Object), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/approvals/{id}/reject")]
pub async fn reject_approval(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
    body: Option<web::Json<Decision>>,
) -> ApiResult<HttpResponse> {
    let comment = body.as_ref().and_then(|b| b.comment.as_deref());
    Ok(HttpResponse::Ok().json(engine.decide_approval(&caller.0, &path, false, comment).await?))
}
