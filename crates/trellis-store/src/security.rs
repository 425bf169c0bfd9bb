//! Failed-login counters (`sys_login_attempts`, shared by every node) and per-tenant settings
//! (`sys_settings`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{DeriveIden, FromQueryResult};

use crate::error::StoreError;
use crate::rows;

/// `sys_login_attempts` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysLoginAttempts {
    Table,
    Failures,
    Key,
    WindowStart,
}

#[derive(FromQueryResult)]
struct Attempts {
    failures: i32,
    window_start: DateTime<Utc>,
}

/// Counts one attempt for a key in one statement, so concurrent attempts (on any node) each
/// see their own count: in the current window, or in a new one starting at `now` when the
/// window began before `since`. Answers the count including this attempt and the window's start.
///
/// Why one statement: a read followed by a write let concurrent failures read the same count
/// and all pass the limit, and lost increments on PostgreSQL.
pub async fn count_attempt<C: crate::Writes>(
    c: &C,
    key: &str,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<(i32, DateTime<Utc>), StoreError> {
    let stored = |col: SysLoginAttempts| Expr::col((SysLoginAttempts::Table, col));
    let current = || stored(SysLoginAttempts::WindowStart).gt(since);
    let q = Query::insert()
        .into_table(SysLoginAttempts::Table)
        .columns([
            SysLoginAttempts::Key,
            SysLoginAttempts::WindowStart,
            SysLoginAttempts::Failures,
        ])
        .values_panic([key.into(), now.into(), 1i32.into()])
        .on_conflict(
            OnConflict::column(SysLoginAttempts::Key)
                .value(
                    SysLoginAttempts::Failures,
                    Expr::case(current(), stored(SysLoginAttempts::Failures).add(1)).finally(Expr::val(1i32)),
                )
                .value(
                    SysLoginAttempts::WindowStart,
                    Expr::case(current(), stored(SysLoginAttempts::WindowStart)).finally(Expr::val(now)),
                )
                .to_owned(),
        )
        .returning(Query::returning().columns([SysLoginAttempts::Failures, SysLoginAttempts::WindowStart]))
        .to_owned();
    let row = rows::one::<Attempts, _>(c, &q)
        .await?
        .ok_or_else(|| StoreError::Config("login attempt count did not return".into()))?;
    Ok((row.failures, row.window_start))
}

/// Takes back an attempt counted by [`count_attempt`] that turned out not to be a failure (a
/// refused attempt, whose password was not checked, or a successful login).
pub async fn uncount_attempt<C: crate::Writes>(c: &C, key: &str) -> Result<(), StoreError> {
    let q = Query::update()
        .table(SysLoginAttempts::Table)
        .value(SysLoginAttempts::Failures, Expr::col(SysLoginAttempts::Failures).sub(1))
        .and_where(Expr::col(SysLoginAttempts::Key).eq(key))
        .and_where(Expr::col(SysLoginAttempts::Failures).gt(0))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Forgets a key's failures (after a successful login).
pub async fn clear_failures<C: crate::Writes>(c: &C, key: &str) -> Result<(), StoreError> {
    let q = Query::delete()
        .from_table(SysLoginAttempts::Table)
        .and_where(Expr::col(SysLoginAttempts::Key).eq(key))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}
