//! Pipelines: the definition per entity, transitions, the next moves of a record, its history,
//! the board, and approvals.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_core::status::ApprovalStatus;
use trellis_engine::Engine;
use trellis_engine::pipelines::{Approval, Board, NextMoves, TransitionOut};
use trellis_engine::records::ListParams;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Body, Caller, etag, if_match, not_an_object, optional_json};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;
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
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ChangeQuery, ("If-Match" = Option<String>, Header)), request_body(content = Option<PipelineDef>, description = "The pipeline, or `null` to remove it"),
    responses((status = 200, description = "What changed", body = AppChange), (status = 422, body = Problem)))]
#[put("/apps/{app}/entities/{entity}/pipeline")]
pub async fn put_pipeline(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: EntityPath,
    q: web::Query<ChangeQuery>,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    // A pipeline is an object; `null` removes it. Anything else is a mistake, not a removal.
    if !(body.is_object() || body.is_null()) {
        return Err(not_an_object(&body).into());
    }
    let change = engine
        .put_pipeline(&caller.0, &app, &entity, &body, q.opts(&req)?)
        .await?;
    changed(&engine, &caller, &app, change).await
}

/// An attachment of a transition: a file's id, or the id with the kind of evidence it is.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Attachment {
    File(String),
    Described(DescribedFile),
}

/// A file with the kind of evidence it is.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DescribedFile {
    /// The file's id (`POST /files`).
    file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
}

/// A move of a record to another stage.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    /// The stage to move to.
    #[serde(default)]
    #[schema(required = true, min_length = 1)]
    to: String,
    /// Why; some transitions require one (then 409 `transition_blocked` without it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 4000)]
    comment: Option<String>,
    /// Files kept as the move's evidence (at most 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 50)]
    attachments: Option<Vec<Attachment>>,
}

/// `moved`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovedStatus {
    Moved,
}

/// `pending_approval`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PendingStatus {
    PendingApproval,
}

/// The record moved.
#[derive(Serialize, ToSchema)]
pub struct Moved {
    status: MovedStatus,
    /// The record (its schema is in the app's document).
    #[schema(value_type = Object)]
    record: Value,
}

/// The move waits for an approval.
#[derive(Serialize, ToSchema)]
pub struct PendingApproval {
    status: PendingStatus,
    /// The record (its schema is in the app's document), still in its stage.
    #[schema(value_type = Object)]
    record: Value,
    approval: Approval,
}

/// Move a record to another stage. 200 with the record when it moved; 202 with the approval
/// when the move waits for one; 409 `transition_blocked` listing every unmet condition.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = TransitionRequest,
    responses((status = 200, description = "Moved", body = Moved), (status = 202, description = "Waits for approval", body = PendingApproval),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/{id}/transition")]
pub async fn transition_record(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: RecordPath,
    body: Body<TransitionRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    let expected = if_match(&req)?;
    let body = serde_json::to_value(body.into_inner()).unwrap_or_default();
    Ok(
        match engine
            .transition(&caller.0, &app, &entity, &id, &body, expected)
            .await?
        {
            TransitionOut::Done(r) => HttpResponse::Ok()
                .insert_header((header::ETAG, etag(r.version)))
                .json(Moved {
                    status: MovedStatus::Moved,
                    record: r.json,
                }),
            TransitionOut::Pending { record, approval } => HttpResponse::Accepted()
                .insert_header((header::ETAG, etag(record.version)))
                .json(PendingApproval {
                    status: PendingStatus::PendingApproval,
                    record: record.json,
                    approval: *approval,
                }),
        },
    )
}

/// The moves the caller could make from the record's stage, each with what blocks it now, and
/// the stage's SOP.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path)),
    responses((status = 200, description = "The moves", body = NextMoves), (status = 404, body = Problem)))]
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
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

/// A record's history, oldest first: creation, field changes (from → to), stage moves with the
/// time spent in the stage left, approvals and votes, SLA breaches, deletion.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), HistoryQuery),
    responses((status = 200, description = "A page of the history", body = trellis_engine::pipelines::HistoryPage), (status = 404, body = Problem)))]
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
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// Comma-separated number fields summed per column.
    sum: Option<String>,
}

/// The board of an entity's pipeline: per stage, in order, the count, sums and first records
/// under one filter, and the stages the caller may move records to.
#[utoipa::path(tag = "pipelines", params(("app" = String, Path), ("entity" = String, Path), BoardQuery),
    responses((status = 200, description = "The board", body = Board), (status = 400, body = Problem), (status = 404, body = Problem)))]
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

fn pending() -> ApprovalStatus {
    ApprovalStatus::Pending
}

#[derive(Deserialize, IntoParams)]
pub struct ApprovalsQuery {
    /// Pending ones by default.
    #[serde(default = "pending")]
    #[param(inline)]
    status: ApprovalStatus,
    /// Only approvals the caller may decide (themselves or by delegation).
    #[serde(default)]
    mine: bool,
}

/// Approvals of the tenant.
#[utoipa::path(tag = "pipelines", params(ApprovalsQuery),
    responses((status = 200, description = "The approvals", body = List<Approval>), (status = 400, body = Problem)))]
#[get("/approvals")]
pub async fn list_approvals(
    engine: web::Data<Engine>,
    caller: Caller,
    q: web::Query<ApprovalsQuery>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(List::of(engine.list_approvals(&caller.0, q.status, q.mine).await?)))
}

/// One approval with its votes.
#[utoipa::path(tag = "pipelines", params(("id" = String, Path)),
    responses((status = 200, description = "The approval", body = Approval), (status = 404, body = Problem)))]
#[get("/approvals/{id}")]
pub async fn get_approval(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(engine.get_approval(&caller.0, &path).await?))
}

/// An approval's comment (the body may be left out).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Approve {
    #[serde(default)]
    #[schema(max_length = 4000)]
    comment: Option<String>,
}

/// A rejection's reason.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    /// The reason: 1 to 4000 characters, not only spaces.
    #[serde(default)]
    #[schema(required = true, min_length = 1, max_length = 4000, pattern = r"\S")]
    comment: String,
}

/// Approve; the last approval the policy needs moves the record.
#[utoipa::path(tag = "pipelines", params(("id" = String, Path)), request_body(content = Option<Approve>),
    responses((status = 200, description = "The approval", body = Approval), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/approvals/{id}/approve")]
pub async fn approve_approval(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: Option<Approve> = optional_json(&body)?;
    let comment = body.as_ref().and_then(|b| b.comment.as_deref());
    Ok(HttpResponse::Ok().json(engine.decide_approval(&caller.0, &path, true, comment).await?))
}

/// Reject (the reason is required); the record stays in its stage.
#[utoipa::path(tag = "pipelines", params(("id" = String, Path)), request_body = Reject,
    responses((status = 200, description = "The approval", body = Approval), (status = 403, body = Problem), (status = 422, body = Problem)))]
#[post("/approvals/{id}/reject")]
pub async fn reject_approval(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<String>,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let body: Option<Reject> = optional_json(&body)?;
    let comment = body.as_ref().map(|b| b.comment.as_str());
    Ok(HttpResponse::Ok().json(engine.decide_approval(&caller.0, &path, false, comment).await?))
}
