//! Durable timers. A timer is a row with a due time; firing it is the conditional update of its
//! status from `pending`, so however many nodes sweep, each timer fires once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{DbBackend, DeriveIden, FromQueryResult};
use trellis_core::status::{TimerKind, TimerStatus};

use crate::error::StoreError;
use crate::rows;

#[derive(Debug, Clone, FromQueryResult)]
pub struct TimerRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub entity_id: String,
    pub record_id: Option<String>,
    /// A `trellis_core::status::TimerKind` word.
    pub kind: String,
    /// What the timer is about, e.g. the stage whose SLA it watches.
    pub key: String,
    pub due_at: DateTime<Utc>,
    /// A `trellis_core::status::TimerStatus` word.
    pub status: String,
    pub data: String,
}

/// `sys_timers` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysTimers {
    Table,
    AppId,
    Data,
    DueAt,
    EntityId,
    FiredAt,
    Id,
    Key,
    Kind,
    RecordId,
    Status,
    TenantId,
}

const COLS: [SysTimers; 10] = [
    SysTimers::Id,
    SysTimers::TenantId,
    SysTimers::AppId,
    SysTimers::EntityId,
    SysTimers::RecordId,
    SysTimers::Kind,
    SysTimers::Key,
    SysTimers::DueAt,
    SysTimers::Status,
    SysTimers::Data,
];

pub async fn insert<C: crate::Writes>(c: &C, t: &TimerRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysTimers::Table)
        .columns(COLS)
        .values_panic([
            t.id.clone().into(),
            t.tenant_id.clone().into(),
            t.app_id.clone().into(),
            t.entity_id.clone().into(),
            t.record_id.clone().into(),
            t.kind.clone().into(),
            t.key.clone().into(),
            t.due_at.into(),
            t.status.clone().into(),
            t.data.clone().into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Cancels a record's pending timers of a kind (the record left the stage or was deleted).
pub async fn cancel_for_record<C: crate::Writes>(c: &C, record_id: &str, kind: TimerKind) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(SysTimers::Table)
        .value(SysTimers::Status, TimerStatus::Cancelled.as_str())
        .and_where(Expr::col(SysTimers::RecordId).eq(record_id))
        .and_where(Expr::col(SysTimers::Kind).eq(kind.as_str()))
        .and_where(Expr::col(SysTimers::Status).eq(TimerStatus::Pending.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Cancels the pending timers of a kind and key of an entity's records (a stage lost its SLA).
pub async fn cancel_for_key<C: crate::Writes>(
    c: &C,
    entity_id: &str,
    kind: TimerKind,
    key: &str,
) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(SysTimers::Table)
        .value(SysTimers::Status, TimerStatus::Cancelled.as_str())
        .and_where(Expr::col(SysTimers::EntityId).eq(entity_id))
        .and_where(Expr::col(SysTimers::Kind).eq(kind.as_str()))
        .and_where(Expr::col(SysTimers::Key).eq(key))
        .and_where(Expr::col(SysTimers::Status).eq(TimerStatus::Pending.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Cancels the pending cron timers of an app (its cron rules are scheduled anew).
pub async fn cancel_cron_of_app<C: crate::Writes>(c: &C, app_id: &str) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(SysTimers::Table)
        .value(SysTimers::Status, TimerStatus::Cancelled.as_str())
        .and_where(Expr::col(SysTimers::AppId).eq(app_id))
        .and_where(Expr::col(SysTimers::Kind).eq(TimerKind::Cron.as_str()))
        .and_where(Expr::col(SysTimers::Status).eq(TimerStatus::Pending.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Cancels the pending relative-time rule timers of a key (the rule's record and rule).
pub async fn cancel_rule_timers<C: crate::Writes>(c: &C, key: &str) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(SysTimers::Table)
        .value(SysTimers::Status, TimerStatus::Cancelled.as_str())
        .and_where(Expr::col(SysTimers::Kind).eq(TimerKind::Rule.as_str()))
        .and_where(Expr::col(SysTimers::Key).eq(key))
        .and_where(Expr::col(SysTimers::Status).eq(TimerStatus::Pending.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Pending timers due by `now`, soonest first, read through the partial index on due times (so
/// a sweep never touches timers that are not due). On PostgreSQL the rows are locked and rows
/// another node holds are skipped.
pub async fn due<C: crate::Reads>(c: &C, now: DateTime<Utc>, limit: u64) -> Result<Vec<TimerRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS)
        .from(SysTimers::Table)
        .and_where(Expr::col(SysTimers::Status).eq(TimerStatus::Pending.as_str()))
        .and_where(Expr::col(SysTimers::DueAt).lte(now))
        .order_by(SysTimers::DueAt, Order::Asc)
        .limit(limit);
    if c.get_database_backend() == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    rows::all(c, &q).await
}

/// Marks a timer fired if it is still pending; false when another node (or a cancel) won.
pub async fn mark_fired<C: crate::Writes>(c: &C, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(SysTimers::Table)
        .value(SysTimers::Status, TimerStatus::Fired.as_str())
        .value(SysTimers::FiredAt, at)
        .and_where(Expr::col(SysTimers::Id).eq(id))
        .and_where(Expr::col(SysTimers::Status).eq(TimerStatus::Pending.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// A record's timers of a kind, newest first.
pub async fn of_record<C: crate::Reads>(c: &C, record_id: &str) -> Result<Vec<TimerRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysTimers::Table)
        .and_where(Expr::col(SysTimers::RecordId).eq(record_id))
        .order_by(SysTimers::DueAt, Order::Desc)
        .to_owned();
    rows::all(c, &q).await
}
