//! The event log: one row per committed change of a record, written in the change's own
//! transaction. It is the record's history, the app's audit trail and the automation outbox.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{DeriveIden, FromQueryResult, QueryResult};

use crate::error::StoreError;
use crate::rows;

/// One event.
#[derive(Debug, Clone, FromQueryResult)]
pub struct EventRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub entity_id: String,
    pub record_id: String,
    /// `created`, `updated`, `deleted`, `stage_changed`, `approval_requested`, `approved`,
    /// `rejected`, `approval_vote`, `sla_breached`.
    pub kind: String,
    pub actor: Option<String>,
    /// The token or rule that made the change.
    pub via: Option<String>,
    pub at: DateTime<Utc>,
    /// JSON: field changes, stages, comment, evidence.
    pub data: String,
    /// How many rules led to this change (0: a person or integration).
    pub depth: i32,
}

/// `sys_events` and its columns.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum SysEvents {
    Table,
    Actor,
    AppId,
    At,
    Data,
    Depth,
    DispatchedAt,
    EntityId,
    Id,
    Kind,
    RecordId,
    TenantId,
    Via,
}

pub(crate) const COLS: [SysEvents; 11] = [
    SysEvents::Id,
    SysEvents::TenantId,
    SysEvents::AppId,
    SysEvents::EntityId,
    SysEvents::RecordId,
    SysEvents::Kind,
    SysEvents::Actor,
    SysEvents::Via,
    SysEvents::At,
    SysEvents::Data,
    SysEvents::Depth,
];

pub(crate) fn event(r: &QueryResult) -> Result<EventRow, StoreError> {
    Ok(EventRow::from_query_result(r, "")?)
}

/// Writes events (one statement for all of them), to be dispatched.
pub async fn insert<C: crate::Writes>(c: &C, events: &[EventRow]) -> Result<(), StoreError> {
    insert_with(c, events, false).await
}

/// Writes events; `dispatched` marks them dispatched at once (nothing can match them: audit
/// events, and changes in an app without rules), so the outbox never holds them.
pub async fn insert_with<C: crate::Writes>(c: &C, events: &[EventRow], dispatched: bool) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let values = |e: &EventRow| -> [sea_orm::sea_query::Value; 12] {
        [
            e.id.clone().into(),
            e.tenant_id.clone().into(),
            e.app_id.clone().into(),
            e.entity_id.clone().into(),
            e.record_id.clone().into(),
            e.kind.clone().into(),
            e.actor.clone().into(),
            e.via.clone().into(),
            e.at.into(),
            e.data.clone().into(),
            e.depth.into(),
            (if dispatched { Some(e.at) } else { None }).into(),
        ]
    };
    // Nothing reads the outcome: on SQLite it goes with the transaction's next statement.
    if c.get_database_backend() == sea_orm::DbBackend::Postgres {
        let cols: Vec<String> = [
            "id",
            "tenant_id",
            "app_id",
            "entity_id",
            "record_id",
            "kind",
            "actor",
            "via",
            "at",
            "data",
            "depth",
            "dispatched_at",
        ]
        .map(String::from)
        .to_vec();
        let rows: Vec<Vec<sea_orm::sea_query::Value>> = events.iter().map(|e| values(e).to_vec()).collect();
        if let Some(stmt) = crate::json_rows::insert("sys_events", &cols, &rows) {
            c.execute_later(stmt).await?;
            return Ok(());
        }
    }
    let mut q = Query::insert();
    q.into_table(SysEvents::Table)
        .columns(COLS.into_iter().chain([SysEvents::DispatchedAt]));
    for e in events {
        q.values_panic(values(e).map(Into::into));
    }
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// A record's events, oldest first, after the event `after` (an id: ids grow with time).
pub async fn of_record<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    record_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<EventRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS)
        .from(SysEvents::Table)
        .and_where(Expr::col(SysEvents::RecordId).eq(record_id))
        .and_where(Expr::col(SysEvents::TenantId).eq(tenant_id))
        .order_by(SysEvents::At, Order::Asc)
        .order_by(SysEvents::Id, Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        q.and_where(Expr::col(SysEvents::Id).gt(after));
    }
    rows::all(c, &q).await
}

/// Undispatched events, oldest first (the outbox).
pub async fn pending<C: crate::Reads>(c: &C, limit: u64) -> Result<Vec<EventRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysEvents::Table)
        .and_where(Expr::col(SysEvents::DispatchedAt).is_null())
        .order_by(SysEvents::At, Order::Asc)
        .limit(limit)
        .to_owned();
    rows::all(c, &q).await
}
