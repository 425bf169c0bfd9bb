//! Forecasts of a pipeline from its kept stage moves (`sys_stage_moves`): the stage each record
//! was in at an instant (its last move before it), the stages entered by the records closed by
//! then (historical win rates as of that instant), the open pipeline of a past instant with its
//! outcome at a later one, and the samples of calibration exercises (`sys_calibration_samples`).
//! The records counted are those of the entity's table a checked filter keeps (the caller's row
//! scope and their filter).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, JoinType, Order, Query, SelectStatement};
use sea_orm::{DeriveIden, FromQueryResult};
use trellis_core::query::Filter;

use crate::error::StoreError;
use crate::records::{condition, read_wide_sum, select_wide_sum};
use crate::stages::MoveCol;

/// Whose history a forecast reads.
#[derive(Debug, Clone)]
pub struct HistoryQuery<'a> {
    pub tenant_id: &'a str,
    /// The entity's storage id and table.
    pub entity_id: &'a str,
    pub table: &'a str,
    /// The records counted (scope and filter).
    pub records: Option<Filter>,
}

fn a(s: &str) -> Alias {
    Alias::new(s.to_string())
}

/// Per record counted, its last move before `before`, ranked 1 (`rn`): `record_id`, `to_stage`,
/// `rn`. Records with no move before then have no row.
fn latest(q: &HistoryQuery<'_>, backend: sea_orm::DbBackend, before: DateTime<Utc>) -> SelectStatement {
    let mut records = Query::select();
    records.column(a("id")).from(a(q.table));
    if let Some(f) = &q.records {
        records.cond_where(condition(f, backend));
    }
    let mut s = Query::select();
    s.column(MoveCol::RecordId)
        .column(MoveCol::ToStage)
        .expr_as(
            // Moves of one instant are ordered by id (UUID v7: the order they were kept in).
            Expr::cust("ROW_NUMBER() OVER (PARTITION BY \"record_id\" ORDER BY \"moved_at\" DESC, \"id\" DESC)"),
            a("rn"),
        )
        .from(MoveCol::Table)
        .and_where(Expr::col(MoveCol::TenantId).eq(q.tenant_id))
        .and_where(Expr::col(MoveCol::EntityId).eq(q.entity_id))
        .and_where(Expr::col(MoveCol::MovedAt).lt(before))
        .and_where(Expr::col(MoveCol::RecordId).in_subquery(records));
    s
}

/// Records closed before an instant, per stage they entered before it and the closed stage
/// they were in then.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct ClosedReach {
    pub stage: String,
    pub closed: String,
    pub n: i64,
}

/// The records counted that were in one of the `closed` stages at `before` (their last move
/// before it went there), per stage they had entered before it and that closed stage.
pub async fn closed_reach<C: crate::Reads>(
    c: &C,
    q: &HistoryQuery<'_>,
    before: DateTime<Utc>,
    closed: &[String],
) -> Result<Vec<ClosedReach>, StoreError> {
    if closed.is_empty() {
        return Ok(Vec::new());
    }
    let backend = c.get_database_backend();
    let t = latest(q, backend, before);
    let mut s = Query::select();
    s.expr_as(Expr::col((a("x"), MoveCol::ToStage)), a("stage"))
        .expr_as(Expr::col((a("t"), MoveCol::ToStage)), a("closed"))
        .expr_as(
            Expr::cust("COUNT(DISTINCT \"x\".\"record_id\")"),
            crate::rows::Count::alias(),
        )
        .from_as(MoveCol::Table, a("x"))
        .join_subquery(
            JoinType::InnerJoin,
            t,
            a("t"),
            Expr::col((a("t"), MoveCol::RecordId)).equals((a("x"), MoveCol::RecordId)),
        )
        .and_where(Expr::col((a("t"), a("rn"))).eq(1))
        .and_where(Expr::col((a("t"), MoveCol::ToStage)).is_in(closed.iter().cloned()))
        .and_where(Expr::col((a("x"), MoveCol::TenantId)).eq(q.tenant_id))
        .and_where(Expr::col((a("x"), MoveCol::EntityId)).eq(q.entity_id))
        .and_where(Expr::col((a("x"), MoveCol::MovedAt)).lt(before))
        .add_group_by([
            Expr::col((a("x"), MoveCol::ToStage)),
            Expr::col((a("t"), MoveCol::ToStage)),
        ]);
    crate::rows::all(c, &s).await
}

/// The records of a past pipeline: per stage they were in at the instant and stage they were
/// in at a later one, how many and the sum of their amount (in stored units, now).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub then: String,
    pub later: String,
    pub n: i64,
    pub amount: Option<i128>,
}

/// The records counted that were in one of the `open` stages at `at` (their last move before
/// it went there), per stage then and stage at `later`, with the sum of `amount_column` (the
/// record's value now).
pub async fn outcomes<C: crate::Reads>(
    c: &C,
    q: &HistoryQuery<'_>,
    at: DateTime<Utc>,
    later: DateTime<Utc>,
    open: &[String],
    amount_column: &str,
) -> Result<Vec<Outcome>, StoreError> {
    if open.is_empty() {
        return Ok(Vec::new());
    }
    let backend = c.get_database_backend();
    let t = latest(q, backend, at);
    let e = latest(q, backend, later);
    let mut s = Query::select();
    s.expr_as(Expr::col((a("t"), MoveCol::ToStage)), a("then"))
        .expr_as(Expr::col((a("e"), MoveCol::ToStage)), a("later"))
        .expr_as(Expr::cust("COUNT(*)"), crate::rows::Count::alias());
    select_wide_sum(&mut s, Expr::col((a("r"), a(amount_column))), "amount");
    s.from_subquery(t, a("t"))
        .join_subquery(
            JoinType::InnerJoin,
            e,
            a("e"),
            Expr::col((a("e"), MoveCol::RecordId))
                .equals((a("t"), MoveCol::RecordId))
                .and(Expr::col((a("e"), a("rn"))).eq(1)),
        )
        .join_as(
            JoinType::InnerJoin,
            a(q.table),
            a("r"),
            Expr::col((a("r"), a("id"))).equals((a("t"), MoveCol::RecordId)),
        )
        .and_where(Expr::col((a("t"), a("rn"))).eq(1))
        .and_where(Expr::col((a("t"), MoveCol::ToStage)).is_in(open.iter().cloned()))
        .add_group_by([
            Expr::col((a("t"), MoveCol::ToStage)),
            Expr::col((a("e"), MoveCol::ToStage)),
        ]);
    let rows = c.query_all(&s).await?;
    rows.iter()
        .map(|r| {
            Ok(Outcome {
                then: r.try_get("", "then")?,
                later: r.try_get("", "later")?,
                n: r.try_get("", "n")?,
                amount: read_wide_sum(r, "amount")?,
            })
        })
        .collect()
}

/// Up to `n` ids of the table's records the filter keeps, drawn at random by the database.
pub async fn random_ids<C: crate::Reads>(
    c: &C,
    table: &str,
    filter: Option<&Filter>,
    n: u64,
) -> Result<Vec<String>, StoreError> {
    let backend = c.get_database_backend();
    let mut s = Query::select();
    s.column(a("id")).from(a(table));
    if let Some(f) = filter {
        s.cond_where(condition(f, backend));
    }
    s.order_by_expr(Expr::cust("RANDOM()"), Order::Asc).limit(n);
    crate::rows::Id::all(c, &s).await
}

/// `sys_calibration_samples` and its columns.
#[derive(DeriveIden, Clone, Copy)]
pub(crate) enum Samples {
    #[sea_orm(iden = "sys_calibration_samples")]
    Table,
    TenantId,
    ExerciseId,
    Position,
    AppId,
    EntityId,
    RecordId,
    Stage,
    ConfiguredProbability,
    SystemProbability,
    TeamEstimate,
    CreatedBy,
    CreatedAt,
    EstimatedBy,
    EstimatedAt,
}

const COLS: [Samples; 14] = [
    Samples::TenantId,
    Samples::ExerciseId,
    Samples::Position,
    Samples::AppId,
    Samples::EntityId,
    Samples::RecordId,
    Samples::Stage,
    Samples::ConfiguredProbability,
    Samples::SystemProbability,
    Samples::TeamEstimate,
    Samples::CreatedBy,
    Samples::CreatedAt,
    Samples::EstimatedBy,
    Samples::EstimatedAt,
];

/// One record drawn for a calibration exercise: the stage it was in and the probabilities the
/// system gave it then, and the team's estimate once recorded (fractions of 1).
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Sample {
    pub tenant_id: String,
    pub exercise_id: String,
    /// The draw's order.
    pub position: i64,
    pub app_id: String,
    /// The entity's storage id.
    pub entity_id: String,
    pub record_id: String,
    pub stage: String,
    pub configured_probability: Option<f64>,
    pub system_probability: Option<f64>,
    pub team_estimate: Option<f64>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub estimated_by: Option<String>,
    pub estimated_at: Option<DateTime<Utc>>,
}

/// Keeps an exercise's samples.
pub async fn insert_samples<C: crate::Writes>(c: &C, samples: &[Sample]) -> Result<(), StoreError> {
    if samples.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert();
    q.into_table(Samples::Table).columns(COLS);
    for s in samples {
        q.values_panic([
            s.tenant_id.clone().into(),
            s.exercise_id.clone().into(),
            s.position.into(),
            s.app_id.clone().into(),
            s.entity_id.clone().into(),
            s.record_id.clone().into(),
            s.stage.clone().into(),
            s.configured_probability.into(),
            s.system_probability.into(),
            s.team_estimate.into(),
            s.created_by.clone().into(),
            s.created_at.into(),
            s.estimated_by.clone().into(),
            s.estimated_at.into(),
        ]);
    }
    c.execute(&q).await?;
    Ok(())
}

/// An exercise's samples of an entity, in the draw's order (none: no such exercise).
pub async fn samples<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    entity_id: &str,
    exercise_id: &str,
) -> Result<Vec<Sample>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(Samples::Table)
        .and_where(Expr::col(Samples::TenantId).eq(tenant_id))
        .and_where(Expr::col(Samples::EntityId).eq(entity_id))
        .and_where(Expr::col(Samples::ExerciseId).eq(exercise_id))
        .order_by(Samples::Position, Order::Asc)
        .to_owned();
    crate::rows::all(c, &q).await
}

/// Records the team's estimate (a fraction of 1) of one sample.
pub async fn set_estimate<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    exercise_id: &str,
    record_id: &str,
    estimate: f64,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::update()
        .table(Samples::Table)
        .value(Samples::TeamEstimate, estimate)
        .value(Samples::EstimatedBy, by.to_string())
        .value(Samples::EstimatedAt, at)
        .and_where(Expr::col(Samples::TenantId).eq(tenant_id))
        .and_where(Expr::col(Samples::ExerciseId).eq(exercise_id))
        .and_where(Expr::col(Samples::RecordId).eq(record_id))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}
