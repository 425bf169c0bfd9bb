//! The audit side of the event log: events about definitions, role membership and tokens (marked
//! dispatched at once, so the automation outbox never sees them), the trail of an app newest
//! first, and retention.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Order, Query};

use crate::error::StoreError;
use crate::events::SysEvents;
use crate::events::{self, EventRow};

/// Writes an audit event that automation does not dispatch.
pub async fn insert<C: crate::Writes>(c: &C, e: &EventRow) -> Result<(), StoreError> {
    events::insert_with(c, std::slice::from_ref(e), true).await
}

/// Events of an app (records and metadata), newest first, before the event `before`.
pub async fn of_app<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    before: Option<&str>,
    limit: u64,
) -> Result<Vec<EventRow>, StoreError> {
    let mut q = Query::select();
    q.columns(events::COLS)
        .from(SysEvents::Table)
        .and_where(Expr::col(SysEvents::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysEvents::AppId).eq(app_id))
        .order_by(SysEvents::Id, Order::Desc)
        .limit(limit);
    if let Some(b) = before {
        q.and_where(Expr::col(SysEvents::Id).lt(b));
    }
    c.query_all(&q).await?.iter().map(events::event).collect()
}

/// Deletes a tenant's events older than `cutoff` that automation has dispatched, and any older
/// than `hard_cutoff`; answers how many.
pub async fn purge<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    cutoff: DateTime<Utc>,
    hard_cutoff: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let q = Query::delete()
        .from_table(SysEvents::Table)
        .and_where(Expr::col(SysEvents::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysEvents::At).lt(cutoff))
        .cond_where(
            Cond::any()
                .add(Expr::col(SysEvents::DispatchedAt).is_not_null())
                .add(Expr::col(SysEvents::At).lt(hard_cutoff)),
        )
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}
