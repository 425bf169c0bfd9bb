//! Imports of records from CSV and Excel files: started with an uploaded file, run in the
//! background, followed by their progress and refused rows.

use actix_web::http::header;
use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use trellis_engine::Engine;
use trellis_engine::imports::{ImportErrorPage, ImportOut, ImportRequest};
use utoipa::IntoParams;

use crate::extract::{Body, Caller};
use crate::problem::{ApiError, ApiResult, Problem};
use trellis_core::Error;

type EntityPath = web::Path<(String, String)>;
type ImportPath = web::Path<(String, String, String)>;

#[derive(Deserialize, IntoParams)]
pub struct ErrorsQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–10,000 (default 100).
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<u64>,
}

/// Start an import of an uploaded file (`POST /api/v1/files`) into an entity: CSV (UTF-8,
/// UTF-16 or GB18030/GBK, told apart by the byte order mark and content), XLSX or XLS. Its
/// columns are matched to fields at once (by name or Chinese or English label, or by
/// `columns`) and refused with 422 when the map or key does not fit; the rows are then read,
/// checked and written by a background job that survives restarts. Cells read as people
/// write them: `2026年3月5日`, `2026/3/5`, Excel dates, `￥1,200.00`, `12%`, `是`/`否`, option labels;
/// relations by the title (or `relations`) of the related record, users by e-mail or name.
/// Needs the `create` right to insert and `update` to update; every row is written as the
/// caller, through their row scope.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path)), request_body = ImportRequest,
    responses((status = 202, description = "The import, queued", body = ImportOut), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[post("/data/{app}/{entity}/imports")]
pub async fn start_import(
    engine: web::Data<Engine>,
    caller: Caller,
    path: EntityPath,
    body: Body<ImportRequest>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let out = engine
        .start_import(&caller.0, &app, &entity, &body.into_inner())
        .await?;
    Ok(HttpResponse::Accepted().json(out))
}

/// The caller's imports into an entity (every user's for a tenant administrator), newest
/// first, at most 100.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path)),
    responses((status = 200, description = "The imports", body = Vec<ImportOut>), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/imports")]
pub async fn list_imports(engine: web::Data<Engine>, caller: Caller, path: EntityPath) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.list_imports(&caller.0, &app, &entity).await?))
}

/// An import and its progress: phase, rows done of the total, records inserted and updated,
/// rows refused. Only its starter and tenant administrators see it.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("import_id" = String, Path)),
    responses((status = 200, description = "The import", body = ImportOut), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/imports/{import_id}")]
pub async fn get_import(engine: web::Data<Engine>, caller: Caller, path: ImportPath) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.get_import(&caller.0, &app, &entity, &id).await?))
}

/// Cancel an import that has not ended; rows it has committed stay (409 when it has ended).
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("import_id" = String, Path)),
    responses((status = 200, description = "The import, cancelled", body = ImportOut), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[post("/data/{app}/{entity}/imports/{import_id}/cancel")]
pub async fn cancel_import(engine: web::Data<Engine>, caller: Caller, path: ImportPath) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    Ok(HttpResponse::Ok().json(engine.cancel_import(&caller.0, &app, &entity, &id).await?))
}

/// An import's refused rows in file order: row, column header, cell text, code and the
/// message in English and Chinese.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("import_id" = String, Path), ErrorsQuery),
    responses((status = 200, description = "A page of refused rows", body = ImportErrorPage), (status = 400, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/data/{app}/{entity}/imports/{import_id}/errors")]
pub async fn import_errors(
    engine: web::Data<Engine>,
    caller: Caller,
    path: ImportPath,
    q: web::Query<ErrorsQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    let page = engine
        .import_errors(
            &caller.0,
            &app,
            &entity,
            &id,
            q.cursor.as_deref(),
            q.limit.unwrap_or(100),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// The refused rows as a CSV file (UTF-8 with a byte order mark, so Excel reads the Chinese):
/// row, column, value, code, message, 说明.
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ("import_id" = String, Path)),
    responses((status = 200, description = "The error file", content_type = "text/csv", body = String), (status = 404, body = Problem)))]
#[get("/data/{app}/{entity}/imports/{import_id}/errors.csv")]
pub async fn import_error_file(engine: web::Data<Engine>, caller: Caller, path: ImportPath) -> ApiResult<HttpResponse> {
    let (app, entity, id) = path.into_inner();
    let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let fail = |e: csv::Error| ApiError(Error::internal(format!("writing an error file: {e}")));
    out.write_record(["row", "column", "value", "code", "message", "说明"])
        .map_err(fail)?;
    let mut cursor: Option<String> = None;
    loop {
        let page = engine
            .import_errors(&caller.0, &app, &entity, &id, cursor.as_deref(), 10_000)
            .await?;
        for e in &page.items {
            out.write_record([
                e.row.to_string().as_str(),
                &e.column,
                &e.value,
                &e.code,
                &e.message,
                &e.message_zh,
            ])
            .map_err(fail)?;
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError(Error::internal(format!("writing an error file: {e}"))))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            crate::routes::files::content_disposition(&format!("import-{id}-errors.csv")),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}
