//! Files: upload (multipart/form-data), download and metadata. A file belongs to the tenant that
//! uploaded it; attachment fields of records hold the ids of such files.

use actix_multipart::{Multipart, MultipartError};
use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentEncoding};
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures::StreamExt;
use serde::Serialize;
use tokio::io::AsyncReadExt;
use trellis_core::error::FieldCode;
use trellis_core::{Error, ErrorCode};
use trellis_engine::Engine;
use trellis_engine::files::{FileOut, Upload};
use utoipa::ToSchema;

use crate::extract::Caller;
use crate::problem::{ApiError, ApiResult, Problem};

/// Most bytes of parts other than `file` that an upload may carry (and that are ignored).
const MAX_OTHER_PARTS: usize = 64 * 1024;

/// The metadata of a stored file.
#[derive(Serialize, ToSchema)]
pub struct FileBody {
    #[schema(format = Uuid)]
    id: String,
    /// The name it was uploaded with, without any path.
    name: String,
    /// Bytes.
    size: i64,
    /// Lowercase hex SHA-256 of the bytes (also the download's ETag).
    sha256: String,
    /// Recognised from the bytes; the declared type counts only for text.
    content_type: String,
    #[schema(format = DateTime)]
    created_at: String,
}

impl From<FileOut> for FileBody {
    fn from(f: FileOut) -> Self {
        FileBody {
            id: f.id,
            name: f.name,
            size: f.size,
            sha256: f.sha256,
            content_type: f.content_type,
            created_at: f.created_at,
        }
    }
}

/// The form of an upload.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the request body only
pub struct UploadForm {
    /// The file, as one part named `file`; not empty (400).
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
}

fn multipart_error(e: MultipartError) -> ApiError {
    ApiError(match e {
        MultipartError::ContentTypeMissing
        | MultipartError::ContentTypeParse
        | MultipartError::ContentTypeIncompatible
        | MultipartError::BoundaryMissing => Error::bad_field(
            "Content-Type",
            FieldCode::NotMultipart,
            "send multipart/form-data with the file in a part named 'file'",
        ),
        other => Error::bad_field(
            "file",
            FieldCode::Malformed,
            format!("the multipart body could not be read: {other}"),
        ),
    })
}

/// Upload a file as the part `file` of a multipart/form-data body (at most 25 MiB unless the node
/// is configured otherwise). Other parts are ignored.
#[utoipa::path(tag = "files",
    request_body(content = inline(UploadForm), content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Stored", body = FileBody),
        (status = 400, description = "Not multipart, no part named file, or an empty file", body = Problem),
        (status = 413, description = "Larger than the limit; nothing is stored", body = Problem)
    ))]
#[post("/files")]
pub async fn upload_file(engine: web::Data<Engine>, caller: Caller, mut form: Multipart) -> ApiResult<HttpResponse> {
    let mut upload: Option<Upload> = None;
    let mut other_bytes = 0usize;
    while let Some(part) = form.next().await {
        let mut part = part.map_err(multipart_error)?;
        if part.name() != Some("file") {
            while let Some(chunk) = part.next().await {
                other_bytes += chunk.map_err(multipart_error)?.len();
                if other_bytes > MAX_OTHER_PARTS {
                    return Err(ApiError(Error::new(
                        ErrorCode::PayloadTooLarge,
                        format!("parts other than 'file' may hold at most {MAX_OTHER_PARTS} bytes"),
                    )));
                }
            }
            continue;
        }
        if upload.is_some() {
            return Err(ApiError(Error::bad_field(
                "file",
                FieldCode::Duplicate,
                "send one file per request (one part named 'file')",
            )));
        }
        let name = part.content_disposition().and_then(file_name).unwrap_or_default();
        let declared = part.content_type().map(|m| m.essence_str().to_string());
        let mut up = engine.begin_upload(&caller.0, &name, declared.as_deref()).await?;
        while let Some(chunk) = part.next().await {
            up.write(&chunk.map_err(multipart_error)?).await?;
        }
        upload = Some(up);
    }
    let up = upload.ok_or_else(|| {
        ApiError(Error::bad_field(
            "file",
            FieldCode::Required,
            "send the file in a multipart/form-data part named 'file'",
        ))
    })?;
    let f = engine.finish_upload(&caller.0, up).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/files/{}", f.id)))
        .json(FileBody::from(f)))
}

/// The file name of a part: `filename*` when a client sent one in UTF-8, else `filename` (which
/// browsers send as raw UTF-8).
fn file_name(cd: &header::ContentDisposition) -> Option<String> {
    if let Some(ext) = cd.get_filename_ext()
        && matches!(&ext.charset, header::Charset::Ext(c) if c.eq_ignore_ascii_case("utf-8"))
        && let Ok(s) = String::from_utf8(ext.value.clone())
    {
        return Some(s);
    }
    cd.get_filename().map(str::to_string)
}

/// `Content-Disposition: attachment` with the name for every client: an ASCII `filename` for old
/// ones and the exact UTF-8 name as `filename*` (RFC 6266, RFC 8187 encoding).
pub fn content_disposition(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// Whether `If-None-Match` names this ETag (or `*`).
fn not_modified(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| {
            h.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == etag || t == "*")
        })
}

/// Download a file: its bytes with `Content-Type`, `Content-Disposition: attachment` (UTF-8 name
/// in `filename*`) and the SHA-256 as `ETag`; `If-None-Match` with it answers 304.
#[utoipa::path(tag = "files", params(("id" = String, Path, description = "File id")),
    responses(
        (status = 200, description = "The bytes", content_type = "*/*"),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 404, description = "No such file in this tenant", body = Problem)
    ))]
#[get("/files/{id}")]
pub async fn download_file(
    engine: web::Data<Engine>,
    caller: Caller,
    req: HttpRequest,
    path: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let content = engine.open_file(&caller.0, &path).await?;
    let meta = content.meta;
    let etag = format!("\"{}\"", meta.sha256);
    if not_modified(&req, &etag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).finish());
    }
    let chunks = futures::stream::unfold(Some(content.file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            // Ends the body after the error: the client sees a short download, never a wrong one.
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(meta.content_type.as_str())
        .insert_header((header::CONTENT_DISPOSITION, content_disposition(&meta.name)))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Should a browser show it anyway, nothing in it runs with this origin's rights.
        .insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"))
        // The bytes go out as stored (with their length); most files are compressed already.
        .insert_header(ContentEncoding::Identity)
        .body(SizedStream::new(meta.size as u64, chunks)))
}

/// The metadata of a file.
#[utoipa::path(tag = "files", params(("id" = String, Path, description = "File id")),
    responses((status = 200, description = "The metadata", body = FileBody), (status = 404, body = Problem)))]
#[get("/files/{id}/meta")]
pub async fn file_meta(engine: web::Data<Engine>, caller: Caller, path: web::Path<String>) -> ApiResult<HttpResponse> {
    let f = engine.file_meta(&caller.0, &path).await?;
    Ok(HttpResponse::Ok().json(FileBody::from(f)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_disposition_carries_any_name_in_utf8_and_a_safe_ascii_fallback() {
        assert_eq!(
            content_disposition("签收单.pdf"),
            "attachment; filename=\"___.pdf\"; filename*=UTF-8''%E7%AD%BE%E6%94%B6%E5%8D%95.pdf"
        );
        assert_eq!(
            content_disposition("a \"b\"\\c.txt"),
            "attachment; filename=\"a _b__c.txt\"; filename*=UTF-8''a%20%22b%22%5Cc.txt"
        );
    }
}
