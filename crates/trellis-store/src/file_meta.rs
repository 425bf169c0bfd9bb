//! Metadata of stored files, as transitions and attachment checks read it.

use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

use crate::error::StoreError;

/// What a record or a transition knows of a file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileMeta {
    pub id: String,
    pub name: String,
    pub size: i64,
    pub content_type: String,
    pub sha256: String,
}

/// The tenant's files among `ids`.
pub async fn by_ids<C: ConnectionTrait>(c: &C, tenant_id: &str, ids: &[String]) -> Result<Vec<FileMeta>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let a = Alias::new;
    let q = Query::select()
        .columns(["id", "name", "size", "content_type", "sha256"].map(a))
        .from(a("sys_files"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("id")).is_in(ids.iter().cloned()))
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            Ok(FileMeta {
                id: r.try_get("", "id")?,
                name: r.try_get("", "name")?,
                size: r.try_get("", "size")?,
                content_type: r.try_get("", "content_type")?,
                sha256: r.try_get("", "sha256")?,
            })
        })
        .collect()
}
