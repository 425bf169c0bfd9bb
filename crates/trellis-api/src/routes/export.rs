//! Record exports: an entity's records as a CSV or XLSX download, streamed.

use std::io::Write;
use std::sync::Arc;

use actix_web::http::header::{self, ContentEncoding};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Deserialize;
use tokio::sync::mpsc;
use trellis_engine::Engine;
use trellis_engine::records::{Export, ExportFormat, ExportParams, Lang, XlsxExport, csv_head, csv_rows};
use utoipa::IntoParams;

use crate::extract::Caller;
use crate::problem::{ApiResult, Problem};

/// Parameters of an export: the list's filter, sort, fields and search, the format and the
/// language of the headers.
#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `csv` (UTF-8 with a byte order mark) or `xlsx`.
    #[param(inline)]
    format: ExportFormat,
    /// JSON filter (`filter.schema.json`), as in the list.
    filter: Option<String>,
    /// Comma-separated fields; `-` sorts descending.
    sort: Option<String>,
    /// Comma-separated fields, in the order of the file's columns (default: every field the
    /// caller sees).
    fields: Option<String>,
    /// Text searched in every text field.
    q: Option<String>,
    /// Language of the headers, option labels and yes/no (default: from `Accept-Language`,
    /// else English).
    #[param(inline)]
    lang: Option<Lang>,
}

type EntityPath = web::Path<(String, String)>;

/// The bytes of an XLSX workbook (documentation only).
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub struct XlsxFile(Vec<u8>);

/// Chunks of the answer queued ahead of the connection (each a page of rows, or 64 KiB of zip).
const QUEUED: usize = 4;

/// Export an entity's records as a CSV or XLSX file: the records, columns, filter, sort and
/// search of the record list (`fields` also orders the columns), under the caller's row scope
/// and view, with the role's `export` right (403 `permission_denied` without it). Headers are
/// the fields' labels in `lang`; select options answer their label, relations the title of the
/// record they point at (its id when the caller cannot read it), users their name, datetimes
/// `YYYY-MM-DD HH:MM:SS` at the wall clock of the tenant's time zone. The rows are read in keyset pages and sent as they come
/// (CSV), or written to a temporary worksheet and then zipped to the connection (XLSX).
#[utoipa::path(tag = "records", params(("app" = String, Path), ("entity" = String, Path), ExportQuery),
    responses(
        (status = 200, description = "The file, as an attachment (`Content-Disposition`)", content(
            (String = "text/csv"),
            (inline(XlsxFile) = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
#[get("/data/{app}/{entity}/export")]
pub async fn export_records(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: EntityPath,
    q: web::Query<ExportQuery>,
) -> ApiResult<HttpResponse> {
    let (app, entity) = path.into_inner();
    let q = q.into_inner();
    let lang = q.lang.unwrap_or_else(|| {
        req.headers()
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|h| h.to_str().ok())
            .map_or(Lang::En, Lang::from_accept_language)
    });
    let p = ExportParams {
        filter: q.filter,
        sort: q.sort,
        fields: q.fields,
        q: q.q,
        lang,
    };
    let export = engine.export_records(&caller.0, &app, &entity, &p).await?;
    let file = format!("{}.{}", export.name, q.format.extension());
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(QUEUED);
    let engine = engine.into_inner();
    match q.format {
        ExportFormat::Csv => {
            tokio::spawn(stream_csv(engine, export, tx));
        }
        ExportFormat::Xlsx => {
            tokio::spawn(stream_xlsx(engine, export, tx));
        }
    }
    let body = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let mut answer = HttpResponse::Ok();
    answer
        .content_type(q.format.content_type())
        .insert_header((
            header::CONTENT_DISPOSITION,
            crate::routes::files::content_disposition(&file),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if q.format == ExportFormat::Xlsx {
        // A workbook is a zip already.
        answer.insert_header(ContentEncoding::Identity);
    }
    Ok(answer.streaming(body))
}

fn failed(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

/// Reads the pages and sends each as CSV lines; stops when the client is gone. A failure after
/// the first byte can only cut the answer short (logged).
async fn stream_csv(engine: Arc<Engine>, mut x: Export, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let head = match csv_head(&x.headers) {
        Ok(h) => h,
        Err(e) => {
            let _ = tx.send(Err(failed(e.detail))).await;
            return;
        }
    };
    if tx.send(Ok(Bytes::from(head))).await.is_err() {
        return;
    }
    // Each page is written as CSV while the next is read (the database's work is on its own
    // thread: on SQLite the connection's, on PostgreSQL the server's).
    let lang = x.lang;
    let mut page = engine.export_page(&mut x).await;
    loop {
        let chunk = match std::mem::replace(&mut page, Ok(None)) {
            Ok(None) => return,
            Ok(Some(rows)) => {
                let (next, chunk) = tokio::join!(engine.export_page(&mut x), async { csv_rows(&rows, lang) });
                page = next;
                chunk
            }
            Err(e) => Err(e),
        };
        let sent = match chunk {
            Ok(bytes) => tx.send(Ok(Bytes::from(bytes))).await,
            Err(e) => {
                tracing::error!(error = %e.chain(), "an export failed after its first byte");
                let _ = tx.send(Err(failed(e.detail))).await;
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}

/// Sends what it is given to the answer in chunks of 64 KiB (from a blocking thread).
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client is gone"))
    }
}

/// What the reading task hands the workbook's thread.
enum Page {
    Rows(Vec<Vec<trellis_engine::records::Cell>>),
    /// Every row was read: the workbook may be finished.
    End,
}

/// Reads the pages into a constant-memory workbook on a blocking thread, then zips it to the
/// answer from there. A workbook whose rows were not all read is never finished: the client
/// gets a cut answer, never a file missing rows.
async fn stream_xlsx(engine: Arc<Engine>, mut x: Export, tx: mpsc::Sender<Result<Bytes, std::io::Error>>) {
    let (pages, mut taken) = mpsc::channel::<Page>(2);
    let headers = std::mem::take(&mut x.headers);
    let lang = x.lang;
    let out = tx.clone();
    let writer = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let mut book = XlsxExport::new(headers, None).map_err(|e| e.detail)?;
        loop {
            match taken.blocking_recv() {
                Some(Page::Rows(rows)) => book.rows(&rows, lang).map_err(|e| e.detail)?,
                Some(Page::End) => break,
                None => return Err("the rows were not all read".into()),
            }
        }
        let mut w = ChannelWriter {
            tx: out,
            buf: Vec::with_capacity(CHUNK),
        };
        book.finish(&mut w).map_err(|e| e.detail)?;
        w.flush().map_err(|e| e.to_string())
    });
    loop {
        let page = match engine.export_page(&mut x).await {
            Ok(None) => Page::End,
            Ok(Some(rows)) => Page::Rows(rows),
            Err(e) => {
                tracing::error!(error = %e.chain(), "an export failed while reading");
                let _ = tx.send(Err(failed(e.detail))).await;
                return;
            }
        };
        let end = matches!(page, Page::End);
        if pages.send(page).await.is_err() || end {
            break;
        }
    }
    drop(pages);
    let outcome = match writer.await {
        Ok(r) => r,
        Err(e) => Err(e.to_string()),
    };
    if let Err(e) = outcome {
        tracing::warn!(error = %e, "an XLSX export did not finish");
        let _ = tx.send(Err(failed(e))).await;
    }
}
