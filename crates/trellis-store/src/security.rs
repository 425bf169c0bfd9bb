//! Failed-login counters (`sys_login_attempts`, shared by every node) and per-tenant settings
//! (`sys_settings`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::db::Db;
use crate::error::StoreError;

fn a(s: &str) -> Alias {
    Alias::new(s)
}

/// The failures counted for a key since `since` and when their window started.
pub async fn failures<C: crate::Writes>(
    c: &C,
    key: &str,
    since: DateTime<Utc>,
) -> Result<Option<(i32, DateTime<Utc>)>, StoreError> {
    let q = Query::select()
        .columns([a("failures"), a("window_start")])
        .from(a("sys_login_attempts"))
        .and_where(Expr::col(a("key")).eq(key))
        .and_where(Expr::col(a("window_start")).gt(since))
        .to_owned();
    Ok(match c.query_one(&q).await? {
        Some(r) => Some((r.try_get("", "failures")?, r.try_get("", "window_start")?)),
        None => None,
    })
}

/// Counts one failure: in the current window, or starting a new one at `now`.
pub async fn record_failure(db: &Db, key: &str, now: DateTime<Utc>, since: DateTime<Utc>) -> Result<(), StoreError> {
    let tx = db.write.begin().await?;
    let current = failures(&tx, key, since).await?;
    let (n, start) = match current {
        Some((n, start)) => (n + 1, start),
        None => (1, now),
    };
    let q = Query::insert()
        .into_table(a("sys_login_attempts"))
        .columns([a("key"), a("window_start"), a("failures")])
        .values_panic([key.into(), start.into(), n.into()])
        .on_conflict(
            OnConflict::column(a("key"))
                .update_columns([a("window_start"), a("failures")])
                .to_owned(),
        )
        .to_owned();
    tx.execute(&q).await?;
    tx.commit().await?;
    Ok(())
}

/// Forgets a key's failures (after a successful login).
pub async fn clear_failures<C: crate::Writes>(c: &C, key: &str) -> Result<(), StoreError> {
    let q = Query::delete()
        .from_table(a("sys_login_attempts"))
        .and_where(Expr::col(a("key")).eq(key))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
