//! Rows of `sys_files`: the metadata of uploaded files. The bytes live on disk (the engine's file
//! store); every lookup is scoped to a tenant, so another tenant's id is simply not found.

use chrono::{DateTime, Utc};
use sea_orm::QueryResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, Value};

use crate::error::StoreError;

/// The metadata of one stored file.
#[derive(Debug, Clone, PartialEq)]
pub struct FileRow {
    pub id: String,
    pub tenant_id: String,
    /// The sanitised name it was uploaded with.
    pub name: String,
    pub size: i64,
    /// Sniffed from the bytes (see the engine's file store).
    pub content_type: String,
    /// Lowercase hex SHA-256 of the bytes.
    pub sha256: String,
    /// Where the bytes are, relative to the files directory.
    pub path: String,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
}

const COLS: [&str; 9] = [
    "id",
    "tenant_id",
    "name",
    "size",
    "content_type",
    "sha256",
    "path",
    "created_by",
    "created_at",
];

fn a(s: &str) -> Alias {
    Alias::new(s)
}

fn row(r: &QueryResult) -> Result<FileRow, StoreError> {
    Ok(FileRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        name: r.try_get("", "name")?,
        size: r.try_get("", "size")?,
        content_type: r.try_get("", "content_type")?,
        sha256: r.try_get("", "sha256")?,
        path: r.try_get("", "path")?,
        created_by: r.try_get("", "created_by")?,
        created_at: r.try_get("", "created_at")?,
    })
}

/// Records a stored file.
pub async fn insert_file<C: crate::Writes>(c: &C, f: &FileRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_files"))
        .columns(COLS.map(a))
        .values_panic([
            f.id.clone().into(),
            f.tenant_id.clone().into(),
            f.name.clone().into(),
            f.size.into(),
            f.content_type.clone().into(),
            f.sha256.clone().into(),
            f.path.clone().into(),
            Value::String(f.created_by.clone()).into(),
            f.created_at.into(),
        ])
        .to_owned();
    c.execute(&q).await.map_err(StoreError::classify)?;
    Ok(())
}

/// A file of the tenant by id.
pub async fn file_by_id<C: crate::Writes>(c: &C, tenant_id: &str, id: &str) -> Result<Option<FileRow>, StoreError> {
    let q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_files"))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(row).transpose()
}

/// The files of the tenant among the ids (in no particular order; unknown ids are left out).
pub async fn files_by_ids<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    ids: &[String],
) -> Result<Vec<FileRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_files"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("id")).is_in(ids.iter().cloned()))
        .to_owned();
    c.query_all(&q).await?.iter().map(row).collect()
}
