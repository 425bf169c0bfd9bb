//! The pipeline columns of record tables (`stage`, `pending_stage`, `stage_entered_at`,
//! `stage_due_at`, `stage_breached_at`) as a changed pipeline reconciles them. Record tables
//! have names derived from storage ids, so they stay dynamic here.

use chrono::{DateTime, Utc};
use sea_orm::DeriveIden;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};

use crate::error::StoreError;
use crate::rows::{Count, Id};

/// The pipeline columns of a record table.
#[derive(DeriveIden, Clone, Copy)]
enum Col {
    Id,
    Stage,
    PendingStage,
    StageEnteredAt,
    StageDueAt,
    StageBreachedAt,
}

fn table(t: &str) -> Alias {
    Alias::new(t.to_string())
}

/// How many records of a table are in, or waiting for, one of these stages.
pub async fn count_in_stages<C: crate::Reads>(c: &C, t: &str, stages: &[String]) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(Col::Id).count(), Count::alias())
        .from(table(t))
        .and_where(
            Expr::col(Col::Stage)
                .is_in(stages.iter().cloned())
                .or(Expr::col(Col::PendingStage).is_in(stages.iter().cloned())),
        )
        .to_owned();
    Count::of(c, &q).await
}

/// The ids of a table's records that have no stage yet (the pipeline is new).
pub async fn ids_without_stage<C: crate::Reads>(c: &C, t: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(Col::Id)
        .from(table(t))
        .and_where(Expr::col(Col::Stage).is_null())
        .to_owned();
    Id::all(c, &q).await
}

/// Puts the records that have no stage into `stage`, entered at `now`, due at `due` when the
/// stage has an SLA.
pub async fn enter_initial<C: crate::Writes>(
    c: &C,
    t: &str,
    stage: &str,
    now: DateTime<Utc>,
    due: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    let mut q = Query::update();
    q.table(table(t))
        .value(Col::Stage, stage.to_string())
        .value(Col::StageEnteredAt, now)
        .and_where(Expr::col(Col::Stage).is_null());
    if let Some(due) = due {
        q.value(Col::StageDueAt, due);
    }
    c.execute(&q).await?;
    Ok(())
}

/// Clears the due time of a stage's records not yet breached (the stage lost its SLA).
pub async fn clear_due<C: crate::Writes>(c: &C, t: &str, stage: &str) -> Result<(), StoreError> {
    let q = Query::update()
        .table(table(t))
        .value(Col::StageDueAt, Option::<DateTime<Utc>>::None)
        .and_where(Expr::col(Col::Stage).eq(stage.to_string()))
        .and_where(Expr::col(Col::StageDueAt).is_not_null())
        .and_where(Expr::col(Col::StageBreachedAt).is_null())
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// The ids of a stage's records that have no due time.
pub async fn ids_without_due<C: crate::Reads>(c: &C, t: &str, stage: &str) -> Result<Vec<String>, StoreError> {
    let q = Query::select()
        .column(Col::Id)
        .from(table(t))
        .and_where(Expr::col(Col::Stage).eq(stage.to_string()))
        .and_where(Expr::col(Col::StageDueAt).is_null())
        .to_owned();
    Id::all(c, &q).await
}

/// Gives a stage's records that have no due time this one (the stage was given an SLA).
pub async fn set_missing_due<C: crate::Writes>(
    c: &C,
    t: &str,
    stage: &str,
    due: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::update()
        .table(table(t))
        .value(Col::StageDueAt, due)
        .and_where(Expr::col(Col::Stage).eq(stage.to_string()))
        .and_where(Expr::col(Col::StageDueAt).is_null())
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
