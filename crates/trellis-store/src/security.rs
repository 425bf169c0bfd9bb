//! Failed-login counters (`sys_login_attempts`, shared by every node) and per-tenant settings
//! (`sys_settings`).

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};

use crate::error::StoreError;

fn a(s: &str) -> Alias {
    Alias::new(s)
}

/// Counts one attempt for a key in one statement, so concurrent attempts (on any node) each
/// see their own count: in the current window, or in a new one starting at `now` when the
/// window began before `since`. Answers the count including this attempt and the window's start.
///
/// Why one statement: a read followed by a write let concurrent failures read the same count
/// and all pass the limit, and lost increments on PostgreSQL.
pub async fn count_attempt<C: ConnectionTrait>(
    c: &C,
    key: &str,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<(i32, DateTime<Utc>), StoreError> {
    let stored = |col: &str| Expr::col((a("sys_login_attempts"), a(col)));
    let current = || stored("window_start").gt(since);
    let q = Query::insert()
        .into_table(a("sys_login_attempts"))
        .columns([a("key"), a("window_start"), a("failures")])
        .values_panic([key.into(), now.into(), 1i32.into()])
        .on_conflict(
            OnConflict::column(a("key"))
                .value(
                    a("failures"),
                    Expr::case(current(), stored("failures").add(1)).finally(Expr::val(1i32)),
                )
                .value(
                    a("window_start"),
                    Expr::case(current(), stored("window_start")).finally(Expr::val(now)),
                )
                .to_owned(),
        )
        .returning(Query::returning().columns([a("failures"), a("window_start")]))
        .to_owned();
    let row = c
        .query_one(&q)
        .await?
        .ok_or_else(|| StoreError::Config("login attempt count did not return".into()))?;
    Ok((row.try_get("", "failures")?, row.try_get("", "window_start")?))
}

/// Takes back an attempt counted by [`count_attempt`] that turned out not to be a failure (a
/// refused attempt, whose password was not checked, or a successful login).
pub async fn uncount_attempt<C: ConnectionTrait>(c: &C, key: &str) -> Result<(), StoreError> {
    let q = Query::update()
        .table(a("sys_login_attempts"))
        .value(a("failures"), Expr::col(a("failures")).sub(1))
        .and_where(Expr::col(a("key")).eq(key))
        .and_where(Expr::col(a("failures")).gt(0))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Forgets a key's failures (after a successful login).
pub async fn clear_failures<C: ConnectionTrait>(c: &C, key: &str) -> Result<(), StoreError> {
    let q = Query::delete()
        .from_table(a("sys_login_attempts"))
        .and_where(Expr::col(a("key")).eq(key))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
