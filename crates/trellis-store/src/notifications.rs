//! The in-app inbox.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Func, Order, Query};

use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

#[derive(Debug, Clone, FromQueryResult)]
pub struct NotificationRow {
    pub id: String,
    pub tenant_id: String,
    pub user_id: String,
    pub kind: String,
    /// JSON label {zh, en}.
    pub title: String,
    /// JSON: app, entity, record and what happened.
    pub data: String,
    pub at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// `sys_notifications` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysNotifications {
    Table,
    At,
    Data,
    Id,
    Kind,
    ReadAt,
    TenantId,
    Title,
    UserId,
}

const COLS: [SysNotifications; 8] = [
    SysNotifications::Id,
    SysNotifications::TenantId,
    SysNotifications::UserId,
    SysNotifications::Kind,
    SysNotifications::Title,
    SysNotifications::Data,
    SysNotifications::At,
    SysNotifications::ReadAt,
];

pub async fn insert<C: crate::Writes>(c: &C, rows: &[NotificationRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert();
    q.into_table(SysNotifications::Table).columns(COLS);
    for n in rows {
        q.values_panic([
            n.id.clone().into(),
            n.tenant_id.clone().into(),
            n.user_id.clone().into(),
            n.kind.clone().into(),
            n.title.clone().into(),
            n.data.clone().into(),
            n.at.into(),
            n.read_at.into(),
        ]);
    }
    c.execute(&q).await?;
    Ok(())
}

/// A user's notifications, newest first.
pub async fn of_user<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
    unread_only: bool,
    limit: u64,
) -> Result<Vec<NotificationRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS)
        .from(SysNotifications::Table)
        .and_where(Expr::col(SysNotifications::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysNotifications::UserId).eq(user_id))
        .order_by(SysNotifications::At, Order::Desc)
        .order_by(SysNotifications::Id, Order::Desc)
        .limit(limit);
    if unread_only {
        q.and_where(Expr::col(SysNotifications::ReadAt).is_null());
    }
    rows::all(c, &q).await
}

/// Marks one of the user's notifications read; false when it is not theirs.
pub async fn mark_read<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
    id: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // Marking twice keeps the first time: "read at" is when the user first saw it.
    let q = Query::update()
        .table(SysNotifications::Table)
        .value(
            SysNotifications::ReadAt,
            Func::coalesce([Expr::col(SysNotifications::ReadAt), Expr::val(at)]),
        )
        .and_where(Expr::col(SysNotifications::Id).eq(id))
        .and_where(Expr::col(SysNotifications::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysNotifications::UserId).eq(user_id))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// How many of the user's notifications are unread (the inbox badge).
pub async fn count_unread<C: crate::Reads>(c: &C, tenant_id: &str, user_id: &str) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(SysNotifications::Id).count(), rows::Count::alias())
        .from(SysNotifications::Table)
        .and_where(Expr::col(SysNotifications::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysNotifications::UserId).eq(user_id))
        .and_where(Expr::col(SysNotifications::ReadAt).is_null())
        .to_owned();
    rows::Count::of(c, &q).await
}
