//! The in-app inbox.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order, Query};

use crate::error::StoreError;

#[derive(Debug, Clone)]
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

fn a(s: &str) -> Alias {
    Alias::new(s)
}

const COLS: [&str; 8] = ["id", "tenant_id", "user_id", "kind", "title", "data", "at", "read_at"];

pub async fn insert<C: crate::Writes>(c: &C, rows: &[NotificationRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert();
    q.into_table(a("sys_notifications")).columns(COLS.map(a));
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
pub async fn of_user<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    user_id: &str,
    unread_only: bool,
    limit: u64,
) -> Result<Vec<NotificationRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS.map(a))
        .from(a("sys_notifications"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .order_by(a("at"), Order::Desc)
        .order_by(a("id"), Order::Desc)
        .limit(limit);
    if unread_only {
        q.and_where(Expr::col(a("read_at")).is_null());
    }
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            Ok(NotificationRow {
                id: r.try_get("", "id")?,
                tenant_id: r.try_get("", "tenant_id")?,
                user_id: r.try_get("", "user_id")?,
                kind: r.try_get("", "kind")?,
                title: r.try_get("", "title")?,
                data: r.try_get("", "data")?,
                at: r.try_get("", "at")?,
                read_at: r.try_get("", "read_at")?,
            })
        })
        .collect()
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
        .table(a("sys_notifications"))
        .value(a("read_at"), Func::coalesce([Expr::col(a("read_at")), Expr::val(at)]))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// How many of the user's notifications are unread (the inbox badge).
pub async fn count_unread<C: crate::Writes>(c: &C, tenant_id: &str, user_id: &str) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(a("id")).count(), a("n"))
        .from(a("sys_notifications"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("user_id")).eq(user_id))
        .and_where(Expr::col(a("read_at")).is_null())
        .to_owned();
    Ok(c.query_one(&q)
        .await?
        .map(|r| r.try_get::<i64>("", "n"))
        .transpose()?
        .unwrap_or(0))
}
