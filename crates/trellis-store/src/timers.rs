//! Durable timers. A timer is a row with a due time; firing it is the conditional update of its
//! status from `pending`, so however many nodes sweep, each timer fires once.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query};
use sea_orm::{DbBackend, QueryResult};

use crate::error::StoreError;

#[derive(Debug, Clone)]
pub struct TimerRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub entity_id: String,
    pub record_id: Option<String>,
    /// `sla` (later: reminders, cron fires).
    pub kind: String,
    /// What the timer is about, e.g. the stage whose SLA it watches.
    pub key: String,
    pub due_at: DateTime<Utc>,
    pub status: String,
    pub data: String,
}

fn a(s: &str) -> Alias {
    Alias::new(s)
}

const COLS: [&str; 10] = [
    "id",
    "tenant_id",
    "app_id",
    "entity_id",
    "record_id",
    "kind",
    "key",
    "due_at",
    "status",
    "data",
];

fn timer(r: &QueryResult) -> Result<TimerRow, StoreError> {
    Ok(TimerRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        app_id: r.try_get("", "app_id")?,
        entity_id: r.try_get("", "entity_id")?,
        record_id: r.try_get("", "record_id")?,
        kind: r.try_get("", "kind")?,
        key: r.try_get("", "key")?,
        due_at: r.try_get("", "due_at")?,
        status: r.try_get("", "status")?,
        data: r.try_get("", "data")?,
    })
}

pub async fn insert<C: crate::Writes>(c: &C, t: &TimerRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_timers"))
        .columns(COLS.map(a))
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
pub async fn cancel_for_record<C: crate::Writes>(c: &C, record_id: &str, kind: &str) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(a("sys_timers"))
        .value(a("status"), "cancelled")
        .and_where(Expr::col(a("record_id")).eq(record_id))
        .and_where(Expr::col(a("kind")).eq(kind))
        .and_where(Expr::col(a("status")).eq("pending"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Cancels the pending timers of a kind and key of an entity's records (a stage lost its SLA).
pub async fn cancel_for_key<C: crate::Writes>(
    c: &C,
    entity_id: &str,
    kind: &str,
    key: &str,
) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(a("sys_timers"))
        .value(a("status"), "cancelled")
        .and_where(Expr::col(a("entity_id")).eq(entity_id))
        .and_where(Expr::col(a("kind")).eq(kind))
        .and_where(Expr::col(a("key")).eq(key))
        .and_where(Expr::col(a("status")).eq("pending"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Cancels the pending cron timers of an app (its cron rules are scheduled anew).
pub async fn cancel_cron_of_app<C: crate::Writes>(c: &C, app_id: &str) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(a("sys_timers"))
        .value(a("status"), "cancelled")
        .and_where(Expr::col(a("app_id")).eq(app_id))
        .and_where(Expr::col(a("kind")).eq("cron"))
        .and_where(Expr::col(a("status")).eq("pending"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Cancels the pending relative-time rule timers of a key (the rule's record and rule).
pub async fn cancel_rule_timers<C: crate::Writes>(c: &C, key: &str) -> Result<u64, StoreError> {
    let q = Query::update()
        .table(a("sys_timers"))
        .value(a("status"), "cancelled")
        .and_where(Expr::col(a("kind")).eq("rule"))
        .and_where(Expr::col(a("key")).eq(key))
        .and_where(Expr::col(a("status")).eq("pending"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected())
}

/// Pending timers due by `now`, soonest first, read through the partial index on due times (so
/// a sweep never touches timers that are not due). On PostgreSQL the rows are locked and rows
/// another node holds are skipped.
pub async fn due<C: crate::Writes>(c: &C, now: DateTime<Utc>, limit: u64) -> Result<Vec<TimerRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS.map(a))
        .from(a("sys_timers"))
        .and_where(Expr::col(a("status")).eq("pending"))
        .and_where(Expr::col(a("due_at")).lte(now))
        .order_by(a("due_at"), Order::Asc)
        .limit(limit);
    if c.get_database_backend() == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    c.query_all(&q).await?.iter().map(timer).collect()
}

/// Marks a timer fired if it is still pending; false when another node (or a cancel) won.
pub async fn mark_fired<C: crate::Writes>(c: &C, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(a("sys_timers"))
        .value(a("status"), "fired")
        .value(a("fired_at"), at)
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("status")).eq("pending"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// A record's timers of a kind, newest first.
pub async fn of_record<C: crate::Writes>(c: &C, record_id: &str) -> Result<Vec<TimerRow>, StoreError> {
    let q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_timers"))
        .and_where(Expr::col(a("record_id")).eq(record_id))
        .order_by(a("due_at"), Order::Desc)
        .to_owned();
    c.query_all(&q).await?.iter().map(timer).collect()
}
