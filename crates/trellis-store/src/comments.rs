//! Comments on records: one row per comment, written with its `comment_created` event; a
//! record's comments go with the record.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// One comment.
#[derive(Debug, Clone, FromQueryResult)]
pub struct CommentRow {
    /// UUID v7: ascending id is the order comments were written in.
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    /// The entity's storage id.
    pub entity_id: String,
    pub record_id: String,
    /// The user who wrote it.
    pub author: String,
    /// Plain text; mentions as `@[user id]`.
    pub body: String,
    /// JSON array of the ids of the users it mentions (those that exist), in order.
    pub mentions: String,
    pub created_at: DateTime<Utc>,
}

/// `sys_comments` and its columns.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum SysComments {
    Table,
    AppId,
    Author,
    Body,
    CreatedAt,
    EntityId,
    Id,
    Mentions,
    RecordId,
    TenantId,
}

const COLS: [SysComments; 9] = [
    SysComments::Id,
    SysComments::TenantId,
    SysComments::AppId,
    SysComments::EntityId,
    SysComments::RecordId,
    SysComments::Author,
    SysComments::Body,
    SysComments::Mentions,
    SysComments::CreatedAt,
];

pub async fn insert<C: crate::Writes>(c: &C, r: &CommentRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysComments::Table)
        .columns(COLS)
        .values_panic([
            r.id.clone().into(),
            r.tenant_id.clone().into(),
            r.app_id.clone().into(),
            r.entity_id.clone().into(),
            r.record_id.clone().into(),
            r.author.clone().into(),
            r.body.clone().into(),
            r.mentions.clone().into(),
            r.created_at.into(),
        ])
        .to_owned();
    // Nothing reads the outcome: on SQLite it goes with the transaction's next statement.
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// One comment of the tenant.
pub async fn get<C: crate::Reads>(c: &C, tenant_id: &str, id: &str) -> Result<Option<CommentRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysComments::Table)
        .and_where(Expr::col(SysComments::Id).eq(id))
        .and_where(Expr::col(SysComments::TenantId).eq(tenant_id))
        .to_owned();
    rows::one(c, &q).await
}

/// A record's comments, oldest first, after the comment `after` (an id: ids grow with time).
pub async fn of_record<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    record_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<CommentRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS)
        .from(SysComments::Table)
        .and_where(Expr::col(SysComments::RecordId).eq(record_id))
        .and_where(Expr::col(SysComments::TenantId).eq(tenant_id))
        .order_by(SysComments::Id, Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        q.and_where(Expr::col(SysComments::Id).gt(after));
    }
    rows::all(c, &q).await
}

/// Comments of the tenant by id (those that still exist), in no order.
pub async fn by_ids<C: crate::Reads>(c: &C, tenant_id: &str, ids: &[String]) -> Result<Vec<CommentRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns(COLS)
        .from(SysComments::Table)
        .and_where(Expr::col(SysComments::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysComments::Id).is_in(ids.iter().cloned()))
        .to_owned();
    rows::all(c, &q).await
}

/// Deletes one comment; false when there was none.
pub async fn delete<C: crate::Writes>(c: &C, tenant_id: &str, id: &str) -> Result<bool, StoreError> {
    let q = Query::delete()
        .from_table(SysComments::Table)
        .and_where(Expr::col(SysComments::Id).eq(id))
        .and_where(Expr::col(SysComments::TenantId).eq(tenant_id))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// Deletes every comment of a record (the record is being deleted: its `deleted` event and the
/// `comment_created` events keep what was said).
pub async fn delete_of_record<C: crate::Writes>(c: &C, record_id: &str) -> Result<(), StoreError> {
    let q = Query::delete()
        .from_table(SysComments::Table)
        .and_where(Expr::col(SysComments::RecordId).eq(record_id))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
