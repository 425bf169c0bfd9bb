//! Rows of `sys_files`: the metadata of uploaded files. The bytes live on disk (the engine's file
//! store); every lookup is scoped to a tenant, so another tenant's id is simply not found.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Query, Value};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// The metadata of one stored file.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
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

const COLS: [SysFiles; 9] = [
    SysFiles::Id,
    SysFiles::TenantId,
    SysFiles::Name,
    SysFiles::Size,
    SysFiles::ContentType,
    SysFiles::Sha256,
    SysFiles::Path,
    SysFiles::CreatedBy,
    SysFiles::CreatedAt,
];

/// `sys_files` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysFiles {
    Table,
    ContentType,
    CreatedAt,
    CreatedBy,
    Id,
    Name,
    Path,
    #[sea_orm(iden = "sha256")]
    Sha256,
    Size,
    TenantId,
}

/// Records a stored file.
pub async fn insert_file<C: crate::Writes>(c: &C, f: &FileRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysFiles::Table)
        .columns(COLS)
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
pub async fn file_by_id<C: crate::Reads>(c: &C, tenant_id: &str, id: &str) -> Result<Option<FileRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysFiles::Table)
        .and_where(Expr::col(SysFiles::Id).eq(id))
        .and_where(Expr::col(SysFiles::TenantId).eq(tenant_id))
        .to_owned();
    rows::one(c, &q).await
}

/// The files of the tenant among the ids (in no particular order; unknown ids are left out).
pub async fn files_by_ids<C: crate::Reads>(c: &C, tenant_id: &str, ids: &[String]) -> Result<Vec<FileRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns(COLS)
        .from(SysFiles::Table)
        .and_where(Expr::col(SysFiles::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysFiles::Id).is_in(ids.iter().cloned()))
        .to_owned();
    rows::all(c, &q).await
}
