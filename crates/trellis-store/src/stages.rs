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

/// One move of a record between stages, kept for reports (funnels, conversion, time in stage,
/// SLA timeliness): its entry into the first stage has no `from_stage`. Unlike the event log,
/// moves are not subject to the audit retention.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    /// The entity's storage id.
    pub entity_id: String,
    pub record_id: String,
    pub from_stage: Option<String>,
    pub to_stage: String,
    pub at: DateTime<Utc>,
    /// Seconds the record spent in `from_stage`.
    pub seconds_in_from: Option<f64>,
    /// When `from_stage` was due (its SLA), if it had one.
    pub from_due_at: Option<DateTime<Utc>>,
    pub actor: Option<String>,
}

/// The columns of `sys_stage_moves`.
#[derive(DeriveIden, Clone, Copy)]
pub enum MoveCol {
    #[sea_orm(iden = "sys_stage_moves")]
    Table,
    Id,
    TenantId,
    AppId,
    EntityId,
    RecordId,
    FromStage,
    ToStage,
    MovedAt,
    SecondsInFrom,
    FromDueAt,
    Actor,
}

/// Keeps moves (in the caller's transaction).
pub async fn insert_moves<C: crate::Writes>(c: &C, moves: &[Move]) -> Result<(), StoreError> {
    if moves.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert();
    q.into_table(MoveCol::Table).columns([
        MoveCol::Id,
        MoveCol::TenantId,
        MoveCol::AppId,
        MoveCol::EntityId,
        MoveCol::RecordId,
        MoveCol::FromStage,
        MoveCol::ToStage,
        MoveCol::MovedAt,
        MoveCol::SecondsInFrom,
        MoveCol::FromDueAt,
        MoveCol::Actor,
    ]);
    for m in moves {
        q.values_panic([
            m.id.clone().into(),
            m.tenant_id.clone().into(),
            m.app_id.clone().into(),
            m.entity_id.clone().into(),
            m.record_id.clone().into(),
            m.from_stage.clone().into(),
            m.to_stage.clone().into(),
            m.at.into(),
            m.seconds_in_from.into(),
            m.from_due_at.into(),
            m.actor.clone().into(),
        ]);
    }
    // Nothing reads the outcome: on SQLite it goes with the transaction's next statement.
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Keeps the entry into `stage` of a table's records that have no stage yet (a pipeline added
/// to an entity that has records), before [`enter_initial`] puts them there.
pub async fn record_initial_entries<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    app_id: &str,
    entity_id: &str,
    t: &str,
    stage: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let select = Query::select()
        .expr(Expr::cust(format!(
            "'entry:' || \"id\" || ':{}'",
            now.timestamp_micros()
        )))
        .expr(Expr::val(tenant_id.to_string()))
        .expr(Expr::val(app_id.to_string()))
        .expr(Expr::val(entity_id.to_string()))
        .column(Col::Id)
        .expr(Expr::val(stage.to_string()))
        .expr(Expr::val(now))
        .from(table(t))
        .and_where(Expr::col(Col::Stage).is_null())
        .to_owned();
    let q = Query::insert()
        .into_table(MoveCol::Table)
        .columns([
            MoveCol::Id,
            MoveCol::TenantId,
            MoveCol::AppId,
            MoveCol::EntityId,
            MoveCol::RecordId,
            MoveCol::ToStage,
            MoveCol::MovedAt,
        ])
        .select_from(select)
        .map_err(|e| StoreError::Config(e.to_string()))?
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Fills `sys_stage_moves` from the event log: each record creation that put the record in a
/// stage, and each stage change, becomes a move with the event's id (run once, by the migration
/// that made the table).
pub(crate) async fn backfill_moves(tx: &sea_orm::DatabaseTransaction) -> Result<(), StoreError> {
    use crate::events::{COLS, EventRow, SysEvents};
    use sea_orm::sea_query::Order;
    let mut after: Option<String> = None;
    loop {
        let mut q = Query::select();
        q.columns(COLS)
            .from(SysEvents::Table)
            .and_where(Expr::col(SysEvents::Kind).is_in(["created", "stage_changed"]))
            .order_by(SysEvents::Id, Order::Asc)
            .limit(1000);
        if let Some(a) = &after {
            q.and_where(Expr::col(SysEvents::Id).gt(a.clone()));
        }
        let page: Vec<EventRow> = crate::rows::all(tx, &q).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        let moves: Vec<Move> = page.iter().filter_map(move_of_event).collect();
        insert_moves(tx, &moves).await?;
    }
    Ok(())
}

/// The move an event of the log records, if it records one.
fn move_of_event(e: &crate::events::EventRow) -> Option<Move> {
    let data: serde_json::Value = serde_json::from_str(&e.data).ok()?;
    let text = |k: &str| data.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let (from_stage, to_stage) = match e.kind.as_str() {
        "created" => (None, text("stage")?),
        "stage_changed" => (text("from"), text("to")?),
        _ => return None,
    };
    Some(Move {
        id: e.id.clone(),
        tenant_id: e.tenant_id.clone(),
        app_id: e.app_id.clone(),
        entity_id: e.entity_id.clone(),
        record_id: e.record_id.clone(),
        from_stage,
        to_stage,
        at: e.at,
        seconds_in_from: data.get("seconds_in_stage").and_then(|v| v.as_f64()),
        from_due_at: None,
        actor: e.actor.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventRow;

    fn event(kind: &str, data: &str) -> EventRow {
        EventRow {
            id: "e1".into(),
            tenant_id: "t".into(),
            app_id: "a".into(),
            entity_id: "en".into(),
            record_id: "r".into(),
            kind: kind.into(),
            actor: Some("u".into()),
            via: None,
            at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            data: data.into(),
            depth: 0,
        }
    }

    #[test]
    fn the_event_log_s_creations_and_stage_changes_are_moves() {
        let entry = move_of_event(&event("created", r#"{"stage": "new", "values": {}}"#)).unwrap();
        assert_eq!((entry.from_stage.as_deref(), entry.to_stage.as_str()), (None, "new"));
        assert_eq!(entry.id, "e1");
        let m = move_of_event(&event(
            "stage_changed",
            r#"{"from": "new", "to": "won", "seconds_in_stage": 12.5}"#,
        ))
        .unwrap();
        assert_eq!(
            (
                m.from_stage.as_deref(),
                m.to_stage.as_str(),
                m.seconds_in_from,
                m.actor.as_deref()
            ),
            (Some("new"), "won", Some(12.5), Some("u"))
        );
        // A creation outside a pipeline, an update, and unreadable data are no moves.
        assert!(move_of_event(&event("created", r#"{"values": {}}"#)).is_none());
        assert!(move_of_event(&event("updated", r#"{"from": "a", "to": "b"}"#)).is_none());
        assert!(move_of_event(&event("stage_changed", "not json")).is_none());
    }
}
