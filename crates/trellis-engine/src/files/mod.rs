//! The file store. Uploaded bytes are kept at `<files dir>/<tenant>/<first 2 chars of id>/<id>`,
//! their metadata in `sys_files`. An upload streams into a temporary file next to its final place
//! (hashing, counting and keeping the first bytes for sniffing on the way); when it is complete it
//! is synced, renamed into place and only then recorded. A failure at any step, a size over the
//! limit included, leaves neither a row nor a file behind.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use trellis_core::error::FieldCode;

use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};
use trellis_core::def::FieldType;
use trellis_core::{CompiledField, Error, ErrorCode, FieldError, Val};
use trellis_store::StoreError;
use trellis_store::files::{self, FileRow};

use crate::Engine;
use crate::context::TenantCtx;

/// Largest upload unless the node is configured otherwise (25 MiB).
pub const DEFAULT_MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// Longest file name kept, in bytes (what common file systems allow).
pub const MAX_NAME_BYTES: usize = 255;
/// How much of the start of a file the type sniffer sees; office formats are zip files whose
/// telling entry can sit some kilobytes in.
const SNIFF_BYTES: usize = 64 * 1024;

/// The metadata of a stored file, as answered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileOut {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub content_type: String,
    pub created_at: String,
}

impl FileOut {
    fn from_row(r: &FileRow) -> FileOut {
        FileOut {
            id: r.id.clone(),
            name: r.name.clone(),
            size: r.size,
            sha256: r.sha256.clone(),
            content_type: r.content_type.clone(),
            created_at: trellis_core::value::format_datetime(&r.created_at),
        }
    }
}

/// What an attachment field stores and answers for one file.
fn attachment_json(r: &FileRow) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "size": r.size,
        "content_type": r.content_type,
        "sha256": r.sha256,
    })
}

fn too_large(limit: u64) -> Error {
    Error::new(
        ErrorCode::PayloadTooLarge,
        format!(
            "a file may be at most {limit} bytes ({:.1} MiB)",
            limit as f64 / 1048576.0
        ),
    )
}

fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::internal(format!("file store: {what}: {e}"))
}

/// A file name fit to keep and to offer for download: its last path segment (browsers on
/// Windows may send the whole path), without control characters or the bidirectional overrides
/// that make `exe.pdf` look like `fdp.exe`, trimmed, at most [`MAX_NAME_BYTES`] (keeping the
/// extension), and `file` when nothing is left.
pub fn sanitize_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !is_bidi_control(*c))
        .collect();
    let name = cleaned.trim();
    if name.is_empty() || name == "." || name == ".." {
        return "file".to_string();
    }
    if name.len() <= MAX_NAME_BYTES {
        return name.to_string();
    }
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => (&name[..i], &name[i..]),
        _ => (name, ""),
    };
    let mut end = MAX_NAME_BYTES - ext.len();
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{ext}", &stem[..end])
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `type/subtype` in lowercase when `declared` has that shape (parameters dropped).
fn essence(declared: &str) -> Option<String> {
    let e = declared.split(';').next()?.trim().to_ascii_lowercase();
    let token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let (t, sub) = e.split_once('/')?;
    (token(t) && token(sub)).then_some(e)
}

fn is_text_like(essence: &str) -> bool {
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence,
            "application/json" | "application/xml" | "application/csv" | "application/x-ndjson" | "application/yaml"
        )
}

/// The content type of a file from its first bytes. What the client declared counts only for
/// text (which has no signature to sniff) and only when the bytes hold no NUL; anything else
/// unrecognised is `application/octet-stream`. So a PDF declared as `image/png` is a PDF.
pub fn sniff_content_type(head: &[u8], declared: Option<&str>) -> String {
    if let Some(t) = infer::get(head) {
        return t.mime_type().to_string();
    }
    match declared.and_then(essence) {
        Some(e) if is_text_like(&e) && !head.contains(&0) => e,
        _ => "application/octet-stream".to_string(),
    }
}

/// An upload in progress. Feed it with [`Upload::write`], then [`Engine::finish_upload`]; an
/// upload dropped before it is finished removes what it wrote.
pub struct Upload {
    id: String,
    tenant_id: String,
    user_id: String,
    name: String,
    declared: Option<String>,
    dir: PathBuf,
    /// The file on disk that is removed unless the upload is kept: the temporary file, then
    /// (after the rename) the final one until its row is committed.
    at: PathBuf,
    out: Option<BufWriter<tokio::fs::File>>,
    hasher: Sha256,
    size: u64,
    limit: u64,
    head: Vec<u8>,
    kept: bool,
}

impl Upload {
    /// Appends bytes; past the size limit answers `payload_too_large` (the caller then drops
    /// the upload, which removes the partial file).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), Error> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(too_large(self.limit));
        }
        if self.head.len() < SNIFF_BYTES {
            let n = (SNIFF_BYTES - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..n]);
        }
        self.hasher.update(chunk);
        let out = self
            .out
            .as_mut()
            .ok_or_else(|| Error::internal("upload already closed"))?;
        out.write_all(chunk).await.map_err(|e| io_error("write", e))
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.kept {
            // Only on failure paths; nobody else knows this path (its name is a fresh id).
            let _ = std::fs::remove_file(&self.at);
        }
    }
}

/// A file ready to be sent: its metadata and the open file.
pub struct FileContent {
    pub meta: FileOut,
    pub file: tokio::fs::File,
}

fn check_id(id: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| Error::not_found("no such file"))
}

/// A stored relative path that stays inside the files directory (it is ours, but a path that
/// would leave it is never followed).
fn contained(rel: &str) -> Option<&Path> {
    let p = Path::new(rel);
    p.components().all(|c| matches!(c, Component::Normal(_))).then_some(p)
}

impl Engine {
    /// Starts an upload of a file named `name` (sanitised) that the client says is `declared`.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn begin_upload(&self, ctx: &TenantCtx, name: &str, declared: Option<&str>) -> Result<Upload, Error> {
        let tenant = ctx.tenant_id();
        if tenant.is_empty() || !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::internal("tenant id is not fit for a folder name"));
        }
        // Random (v4), not time-ordered like record ids: the first two characters spread files
        // over 256 folders instead of filling one at a time.
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let dir = self.files_dir.join(tenant).join(&id[..2]);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error(&format!("create {}", dir.display()), e))?;
        let tmp = dir.join(format!(".{id}.part"));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .map_err(|e| io_error(&format!("create {}", tmp.display()), e))?;
        Ok(Upload {
            id,
            tenant_id: tenant.to_string(),
            user_id: ctx.user_id().to_string(),
            name: sanitize_name(name),
            declared: declared.map(str::to_string),
            dir,
            at: tmp,
            out: Some(BufWriter::with_capacity(256 * 1024, file)),
            hasher: Sha256::new(),
            size: 0,
            limit: self.max_file_bytes,
            head: Vec::new(),
            kept: false,
        })
    }

    /// Completes an upload: sync, move into place, record. Answers the stored metadata. (Not
    /// instrumented: the span's wrapper hides from the compiler that `Upload`'s drop reads `kept`.)
    pub async fn finish_upload(&self, ctx: &TenantCtx, mut up: Upload) -> Result<FileOut, Error> {
        if up.tenant_id != ctx.tenant_id() {
            return Err(Error::internal("upload finished by another tenant"));
        }
        if up.size == 0 {
            return Err(Error::bad_field("file", FieldCode::Empty, "the file is empty"));
        }
        let mut out = up.out.take().ok_or_else(|| Error::internal("upload already closed"))?;
        out.flush().await.map_err(|e| io_error("flush", e))?;
        let file = out.into_inner();
        file.sync_all().await.map_err(|e| io_error("sync", e))?;
        drop(file);
        let path = up.dir.join(&up.id);
        tokio::fs::rename(&up.at, &path)
            .await
            .map_err(|e| io_error("rename", e))?;
        up.at = path;
        // The rename is durable only once the folder is synced; not every platform can open a
        // folder for that, so this is best effort.
        if let Ok(d) = tokio::fs::File::open(&up.dir).await {
            let _ = d.sync_all().await;
        }
        let rel = format!("{}/{}/{}", up.tenant_id, &up.id[..2], up.id);
        let row = FileRow {
            id: up.id.clone(),
            tenant_id: up.tenant_id.clone(),
            name: up.name.clone(),
            size: up.size as i64,
            content_type: sniff_content_type(&up.head, up.declared.as_deref()),
            sha256: hex::encode(up.hasher.clone().finalize()),
            path: rel,
            created_by: Some(up.user_id.clone()),
            created_at: trellis_core::value::now_micros(),
        };
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        files::insert_file(&tx, &row).await?;
        tx.commit().await.map_err(StoreError::from)?;
        up.kept = true;
        Ok(FileOut::from_row(&row))
    }

    /// Stores bytes the engine already has (a rendered document) as a file of the tenant named
    /// `name` (sanitised) of type `content_type`, recorded on the caller's connection: written
    /// to a temporary file, synced, moved into place, then recorded. A failure removes the file.
    /// (Should the caller's transaction roll back afterwards, the bytes stay on disk unreferenced.)
    pub async fn store_bytes<C: trellis_store::Writes>(
        &self,
        conn: &C,
        tenant_id: &str,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        created_by: Option<&str>,
    ) -> Result<FileOut, Error> {
        if tenant_id.is_empty() || !tenant_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Error::internal("tenant id is not fit for a folder name"));
        }
        if bytes.is_empty() {
            return Err(Error::bad_field("file", FieldCode::Empty, "the file is empty"));
        }
        if bytes.len() as u64 > self.max_file_bytes {
            return Err(too_large(self.max_file_bytes));
        }
        let id = uuid::Uuid::new_v4().hyphenated().to_string();
        let dir = self.files_dir.join(tenant_id).join(&id[..2]);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error(&format!("create {}", dir.display()), e))?;
        let tmp = dir.join(format!(".{id}.part"));
        let path = dir.join(&id);
        let written = async {
            let mut f = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .await
                .map_err(|e| io_error(&format!("create {}", tmp.display()), e))?;
            f.write_all(bytes).await.map_err(|e| io_error("write", e))?;
            f.sync_all().await.map_err(|e| io_error("sync", e))?;
            drop(f);
            tokio::fs::rename(&tmp, &path)
                .await
                .map_err(|e| io_error("rename", e))?;
            if let Ok(d) = tokio::fs::File::open(&dir).await {
                let _ = d.sync_all().await;
            }
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let row = FileRow {
            id: id.clone(),
            tenant_id: tenant_id.to_string(),
            name: sanitize_name(name),
            size: bytes.len() as i64,
            content_type: content_type.to_string(),
            sha256: hex::encode(Sha256::digest(bytes)),
            path: format!("{tenant_id}/{}/{id}", &id[..2]),
            created_by: created_by.map(str::to_string),
            created_at: trellis_core::value::now_micros(),
        };
        if let Err(e) = files::insert_file(conn, &row).await {
            let _ = tokio::fs::remove_file(&path).await;
            return Err(e.into());
        }
        Ok(FileOut::from_row(&row))
    }

    /// The metadata of a file of the caller's tenant.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn file_meta(&self, ctx: &TenantCtx, id: &str) -> Result<FileOut, Error> {
        let id = check_id(id)?;
        let row = files::file_by_id(&self.db.read, ctx.tenant_id(), &id)
            .await?
            .ok_or_else(|| Error::not_found("no such file"))?;
        Ok(FileOut::from_row(&row))
    }

    /// A file of the caller's tenant, opened for reading.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn open_file(&self, ctx: &TenantCtx, id: &str) -> Result<FileContent, Error> {
        let id = check_id(id)?;
        let row = files::file_by_id(&self.db.read, ctx.tenant_id(), &id)
            .await?
            .ok_or_else(|| Error::not_found("no such file"))?;
        let rel = contained(&row.path).ok_or_else(|| Error::internal(format!("file {id} has a bad path")))?;
        let path = self.files_dir.join(rel);
        let file = tokio::fs::File::open(&path)
            .await
            .map_err(|e| io_error(&format!("open {}", path.display()), e))?;
        Ok(FileContent {
            meta: FileOut::from_row(&row),
            file,
        })
    }
}

/// Looks up the files of the attachment values of a write, in its transaction: every id must
/// be a file of the tenant whose type the field accepts. The ids are replaced by the files'
/// metadata, which is what the record stores and answers.
pub(crate) async fn resolve_attachments<C: trellis_store::Reads>(
    tx: &C,
    ctx: &TenantCtx,
    values: &mut [(&CompiledField, Val)],
) -> Result<Vec<FieldError>, Error> {
    let mut errors = Vec::new();
    for (f, v) in values.iter_mut().filter(|(f, _)| f.kind == FieldType::Attachment) {
        let Val::Json(Value::Array(items)) = v else { continue };
        let ids: Vec<String> = items
            .iter()
            .filter_map(|i| i.get("id").and_then(Value::as_str).map(str::to_string))
            .collect();
        let rows = files::files_by_ids(tx, ctx.tenant_id(), &ids).await?;
        let by_id: HashMap<&str, &FileRow> = rows.iter().map(|r| (r.id.as_str(), r)).collect();
        let mut resolved = Vec::with_capacity(ids.len());
        for id in &ids {
            match by_id.get(id.as_str()) {
                None => errors.push(FieldError::new(
                    f.name.clone(),
                    FieldCode::NotFound,
                    format!("no file has id {id}"),
                )),
                Some(r) if !f.accepts(&r.content_type) => errors.push(FieldError::new(
                    f.name.clone(),
                    FieldCode::FileType,
                    format!(
                        "'{}' is {}; this field takes {}",
                        r.name,
                        r.content_type,
                        f.accept.join(", ")
                    ),
                )),
                Some(r) => resolved.push(attachment_json(r)),
            }
        }
        *v = Val::Json(Value::Array(resolved));
    }
    Ok(errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_paths_control_characters_and_bidi_overrides() {
        assert_eq!(sanitize_name("签收单.pdf"), "签收单.pdf");
        assert_eq!(sanitize_name("C:\\Users\\li\\合同 v2.docx"), "合同 v2.docx");
        assert_eq!(sanitize_name("../../etc/passwd"), "passwd");
        assert_eq!(sanitize_name("a\u{0}b\r\n\tc.txt"), "abc.txt");
        assert_eq!(sanitize_name("invoice\u{202e}fdp.exe"), "invoicefdp.exe");
        assert_eq!(sanitize_name("  report.pdf  "), "report.pdf");
        for nothing in ["", "   ", "/", "dir/", "..", ".", "\u{7}"] {
            assert_eq!(sanitize_name(nothing), "file", "{nothing:?}");
        }
    }

    #[test]
    fn long_names_are_cut_to_255_bytes_on_a_character_boundary_keeping_the_extension() {
        let long = format!("{}.pdf", "合".repeat(200));
        let s = sanitize_name(&long);
        assert!(s.len() <= MAX_NAME_BYTES, "{}", s.len());
        assert!(s.ends_with(".pdf"), "{s}");
        assert!(s.starts_with("合合"));
        let no_ext = "x".repeat(300);
        assert_eq!(sanitize_name(&no_ext).len(), MAX_NAME_BYTES);
        let odd_ext = format!("a.{}", "b".repeat(300));
        assert_eq!(sanitize_name(&odd_ext).len(), MAX_NAME_BYTES);
    }

    #[test]
    fn content_types_come_from_the_bytes_and_the_declared_type_only_for_text() {
        let pdf = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n";
        assert_eq!(sniff_content_type(pdf, Some("image/png")), "application/pdf");
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(sniff_content_type(png, None), "image/png");
        assert_eq!(
            sniff_content_type(b"a,b\n1,2\n", Some("text/csv; charset=utf-8")),
            "text/csv"
        );
        assert_eq!(
            sniff_content_type(b"{\"a\":1}", Some("application/json")),
            "application/json"
        );
        assert_eq!(
            sniff_content_type(b"\x01\x02\x03", Some("application/x-msdownload")),
            "application/octet-stream"
        );
        assert_eq!(
            sniff_content_type(b"a\0b", Some("text/plain")),
            "application/octet-stream"
        );
        assert_eq!(
            sniff_content_type(b"abc", Some("text/<html>")),
            "application/octet-stream"
        );
        assert_eq!(sniff_content_type(b"abc", None), "application/octet-stream");
    }
}
