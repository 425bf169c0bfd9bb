//! The record API generated for every entity (documented per app at `/apps/{app}/openapi.json`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, patch, post, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trellis_engine::Engine;
use trellis_engine::records::ListParams;
use utoipa::{IntoParams, ToSchema};

use crate::extract::{Caller, JsonObject, checked, etag, if_match};
use crate::problem::{ApiResult, Problem};

/// Parameters of a list.
#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// JSON filter (`filter.schema.json`); the values `$user.id`, `$user.team` and `$user.teams`
    /// stand for the caller, their first team and all their teams (with those below them).
    filter: Option<String>,
    /// Comma-separated fields; `-` sorts descending.
    sort: Option<String>,
    /// Comma-separated fields to answer with.
    fields: Option<String>,
    /// Comma-separated relation fields to expand into records.
    expand: Option<String>,
    /// Text searched in every text field.
    q: Option<String>,
    /// Page size, 1–1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Rows to skip instead of a cursor.
    offset: Option<u64>,
    /// Also answer the total number of matches.
    #[serde(default)]
    count: bool,
    /// Also answer what the caller may do with each record of the page (`rights`: per update
    /// and delete, `true` for all of them, `false` for none, or their ids; by the row scopes the
    /// writes check).
    #[serde(default)]
    rights: bool,
}

#[derive(Deserialize, IntoParams)]
pub struct GetQuery {
    /// Comma-separated fields to answer with.
    fields: Option<String>,
    /// Comma-separated relation fields to expand into records.
    expand: Option<String>,
    /// Also answer what the caller may do with the record (`_rights`: `RecordRights`, by the
    /// row scopes the writes check).
    #[serde(default)]
    rights: bool,
}

/// A page of records.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the answer, which the engine serialises from the rows
pub struct RecordPage {
    /// The records (each entity's schema is in the app's document).
    #[schema(value_type = Vec<Object>)]
    data: Vec<Value>,
    /// The cursor of the next page; none after the last.
    next_cursor: Option<String>,
    /// The number of records matching, asked with `count=true`.
    total: Option<i64>,
    /// What the caller may do with the page's records, asked with `rights=true`.
    rights: Option<trellis_engine::records::PageRights>,
}

type EntityPath = web::Path<(String, String)>;
type RecordPath = web::Path<(String, String, String)>;

/// List records of an entity: filter, sort, search, select, expand, keyset or offset pages.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ListQuery),
    responses((status = 200, description = "A page of records", body = RecordPage), (status = 400, body = Problem), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}")]
pub async fn list_records(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    q: web::Query<ListQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let q = q.into_inner();
    let p = ListParams {
        filter: q.filter,
        sort: q.sort,
        fields: q.fields,
        expand: q.expand,
        q: q.q,
        limit: q.limit,
        cursor: q.cursor,
        offset: q.offset,
        count: q.count,
        rights: q.rights,
    };
    Ok(HttpResponse::Ok().json(engine.list_records(&caller.0, &app, &entity, &p).await?))
}

/// Create a record; answers it with its ETag.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path)), request_body = Object,
    responses((status = 201, description = "The record", body = Object), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}")]
pub async fn create_record(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let r = engine.create_record(&caller.0, &app, &entity, &body).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::ETAG, etag(r.version)))
        .json(r.json))
}

/// A record to delete in a bulk request: its id, or its id and the version it must be at.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BulkDelete {
    Id(String),
    Versioned(VersionedId),
}

/// A record's id and the version it must be at (412 otherwise).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionedId {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<i64>,
}

/// Records to create, update and delete together (at most 1000 operations in all).
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRequest {
    /// New records (their schema is in the app's document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>, max_items = 1000)]
    create: Option<Vec<Value>>,
    /// Changes: each the fields to change with the record's `id` (and `version`, checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>, max_items = 1000)]
    update: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(max_items = 1000)]
    delete: Option<Vec<BulkDelete>>,
}

/// Create, update and delete records in one transaction: all or nothing.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path)), request_body = BulkRequest,
    responses((status = 200, description = "What was done", body = trellis_engine::records::BulkOut),
        (status = 412, description = "An update or delete names a version the record is no longer at", body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/bulk")]
pub async fn bulk_records(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: JsonObject,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    // The items are records: the use case names every problem of each by its path.
    let mut body = checked::<BulkRequest>(body.into_inner());
    if let Some(items) = body.get_mut("update").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(without_rights);
    }
    Ok(HttpResponse::Ok().json(engine.bulk(&caller.0, &app, &entity, &body).await?))
}

/// A record read with `rights=true` may be sent back as it is: its `_rights` are the answer's,
/// never a field.
fn without_rights(record: &mut Value) {
    if let Some(o) = record.as_object_mut() {
        o.remove("_rights");
    }
}

/// A record by id.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), GetQuery),
    responses((status = 200, description = "The record; asked with `rights=true`, with `_rights` (`RecordRights`): whether the caller may update and delete it", body = Object), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/{id}")]
pub async fn get_record(
    engine: web::Data<Engine>,
    caller: Caller,
    path: RecordPath,
    q: web::Query<GetQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    let r = engine
        .get_record(
            &caller.0,
            &app,
            &entity,
            &id,
            q.fields.as_deref(),
            q.expand.as_deref(),
            q.rights,
        )
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(r.version)))
        .json(r.json))
}

/// Update the given fields; with `If-Match`, only if the record is still at that version (412).
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = Object,
    responses((status = 200, description = "The record", body = Object), (status = 412, body = Problem), (status = 422, body = Problem)))]
#[patch("/data/{app}/{entity}/{id}")]
pub async fn update_record(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: RecordPath,
    body: web::Json<Value>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    let mut body = body.into_inner();
    without_rights(&mut body);
    let r = engine
        .update_record(&caller.0, &app, &entity, &id, &body, if_match(&req)?)
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::ETAG, etag(r.version)))
        .json(r.json))
}

/// Delete a record; with `If-Match`, only at that version.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("id" = String, Path), ("If-Match" = Option<String>, Header)),
    responses((status = 204, description = "Deleted"), (status = 409, body = Problem), (status = 412, body = Problem)))]
#[delete("/data/{app}/{entity}/{id}")]
pub async fn delete_record(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: RecordPath,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    engine
        .delete_record(&caller.0, &app, &entity, &id, if_match(&req)?)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
