//! Comments on a record (with `@[user id]` mentions) and the record's timeline.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use trellis_engine::Engine;
use trellis_engine::comments::{CommentPage, MentionedUser, PostedComment, Timeline};
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Body, Caller};
use crate::problem::{ApiResult, Problem};
use crate::routes::List;

type RecordPath = web::Path<(String, String, String)>;

#[derive(Deserialize, IntoParams)]
pub struct CommentsQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
pub struct TimelineQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
}

#[derive(Deserialize, IntoParams)]
pub struct MentionableQuery {
    /// Part of the user's name or e-mail, any case (at most 100 characters; none: everyone).
    #[param(max_length = 100)]
    q: Option<String>,
    /// At most this many users, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u64>,
}

/// A new comment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewComment {
    /// Plain text, 1 to 10,000 characters, not only spaces. Mention a user as `@[user id]`.
    #[schema(min_length = 1, max_length = 10000)]
    body: String,
}

/// A record's comments, oldest first, for whoever may read the record (404 as the record
/// answers otherwise).
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), CommentsQuery),
    responses((status = 200, description = "A page of comments", body = CommentPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/{id}/comments")]
pub async fn list_comments(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    q: web::Query<CommentsQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        engine
            .list_comments(&caller.0, &app, &entity, &id, q.cursor.as_deref(), q.limit)
            .await?,
    ))
}

/// Comment on a record the caller may read (reading is enough: a comment changes nothing of
/// the record). Each mentioned user who may read the record gets a `mention` notification;
/// the answer says per mention whether it was notified and why not.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path)), request_body = NewComment,
    responses((status = 201, description = "The comment and its mentions", body = PostedComment), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/{id}/comments")]
pub async fn post_comment(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    body: Body<NewComment>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Created().json(engine.post_comment(&caller.0, &app, &entity, &id, &body.body).await?))
}

/// Delete a comment: its author may, and tenant administrators.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), ("comment_id" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/data/{app}/{entity}/{id}/comments/{comment_id}")]
pub async fn delete_comment(
    engine: web::Data<Engine>,
    caller: Caller,
    path: web::Path<(String, String, String, String)>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id, comment) = path.into_inner();
    engine.delete_comment(&caller.0, &app, &entity, &id, &comment).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A record's timeline, oldest first: creation, field changes (from → to; a change of a field
/// hidden from the caller is left out and the entry marked `veiled`), stage moves, approvals
/// requested, voted and decided, SLA breaches, manual runs, the rule runs its changes started,
/// and comments.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), TimelineQuery),
    responses((status = 200, description = "A page of the timeline", body = Timeline), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/{id}/timeline")]
pub async fn get_timeline(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    q: web::Query<TimelineQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(
        engine
            .record_timeline(&caller.0, &app, &entity, &id, q.cursor.as_deref(), q.limit)
            .await?,
    ))
}

/// The users the caller may mention in a comment on the record: enabled users of the tenant,
/// other than the caller, who may read the record themselves (as a mention's notification is
/// judged), by name; only ids and names. Same 404/403 as the record.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), MentionableQuery),
    responses((status = 200, description = "The users", body = List<MentionedUser>), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/{id}/mentionable")]
pub async fn mentionable_users(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    q: web::Query<MentionableQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(List::of(
        engine
            .mentionable_users(&caller.0, &app, &entity, &id, q.q.as_deref(), q.limit)
            .await?,
    )))
}
