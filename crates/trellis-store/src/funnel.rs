//! Funnels of a pipeline from its kept stage moves (`sys_stage_moves`), counted by the database:
//! per record the furthest stage it reached (a cohort), or the moves of a period crossing each
//! stage (a snapshot), and the time records spent in each stage. The records counted are those
//! of the entity's table a checked filter keeps (the caller's row scope and their filter).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query, SelectStatement};
use sea_orm::{DbBackend, FromQueryResult};
use trellis_core::query::Filter;

use crate::error::StoreError;
use crate::records::condition;
use crate::stages::MoveCol;

/// What a funnel counts.
#[derive(Debug, Clone)]
pub struct FunnelQuery<'a> {
    pub tenant_id: &'a str,
    /// The entity's storage id and table.
    pub entity_id: &'a str,
    pub table: &'a str,
    /// The stages a record advances through, each with its rank (open stages in order, then the
    /// won stages sharing the last rank). Stage keys are slugs.
    pub ranks: Vec<(String, i64)>,
    /// The records counted (scope, filter, and for a cohort the creation period).
    pub records: Option<Filter>,
    /// Only the moves made in this period (a snapshot).
    pub moved: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Records per furthest rank reached and current stage (a cohort's raw counts).
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Reached {
    /// The highest rank among the stages the record entered; none when it entered only stages
    /// without a rank (lost ones).
    pub reached: Option<i64>,
    pub stage: Option<String>,
    pub n: i64,
}

/// Distinct records per stage entered, among the records counted.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Entered {
    pub to_stage: String,
    pub n: i64,
}

/// A snapshot's counts for one rank: records whose moves in the period crossed into it (from a
/// lower rank or from nowhere), crossed out of it upward, or left it for a lost stage, and of the
/// first those now in a stage of this rank.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Crossings {
    pub entered: i64,
    pub advanced: i64,
    pub lost: i64,
    pub still_in: i64,
}

/// `CASE <expr> WHEN 'a' THEN 0 … END`: a stage's rank, none for a stage without one.
fn rank_sql(expr: &str, ranks: &[(String, i64)]) -> String {
    if ranks.is_empty() {
        return "NULL".to_string();
    }
    let mut s = format!("CASE {expr}");
    for (k, r) in ranks {
        debug_assert!(k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        s.push_str(&format!(" WHEN '{k}' THEN {r}"));
    }
    s.push_str(" END");
    s
}

/// The moves of the records counted (and of the period).
fn moves(q: &FunnelQuery<'_>, backend: DbBackend, extra: Option<Filter>) -> SelectStatement {
    let mut records = Query::select();
    records.column(Alias::new("id")).from(Alias::new(q.table));
    if let Some(f) = &q.records {
        records.cond_where(condition(f, backend));
    }
    if let Some(f) = &extra {
        records.cond_where(condition(f, backend));
    }
    let mut s = Query::select();
    s.from(MoveCol::Table)
        .and_where(Expr::col(MoveCol::TenantId).eq(q.tenant_id))
        .and_where(Expr::col(MoveCol::EntityId).eq(q.entity_id))
        .and_where(Expr::col(MoveCol::RecordId).in_subquery(records));
    if let Some((from, to)) = q.moved {
        s.and_where(Expr::col(MoveCol::MovedAt).gte(from))
            .and_where(Expr::col(MoveCol::MovedAt).lt(to));
    }
    s
}

/// The record's current stage, read from its table by id.
fn current_stage_sql(table: &str, record_col: &str) -> String {
    format!("(SELECT \"stage\" FROM \"{table}\" WHERE \"{table}\".\"id\" = {record_col})")
}

/// A cohort: the records counted, per furthest rank reached and current stage.
pub async fn reached<C: crate::Reads>(c: &C, q: &FunnelQuery<'_>) -> Result<Vec<Reached>, StoreError> {
    let backend = c.get_database_backend();
    let mut per_record = moves(q, backend, None);
    per_record
        .column(MoveCol::RecordId)
        .expr_as(
            // 64 bits on both databases (PostgreSQL's CASE of small numbers is 32).
            Expr::cust(format!("CAST(MAX({}) AS BIGINT)", rank_sql("\"to_stage\"", &q.ranks))),
            Alias::new("reached"),
        )
        .group_by_col(MoveCol::RecordId);
    let mut with_stage = Query::select();
    with_stage
        .column((Alias::new("x"), Alias::new("reached")))
        .expr_as(
            Expr::cust(current_stage_sql(q.table, "\"x\".\"record_id\"")),
            Alias::new("stage"),
        )
        .from_subquery(per_record, Alias::new("x"));
    let s = Query::select()
        .column(Alias::new("reached"))
        .column(Alias::new("stage"))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_subquery(with_stage, Alias::new("y"))
        .group_by_col(Alias::new("reached"))
        .group_by_col(Alias::new("stage"))
        .to_owned();
    crate::rows::all(c, &s).await
}

/// Distinct records per stage they entered, among the records counted that `only` keeps too
/// (the lost ones of a cohort: they count only the stages they entered).
pub async fn entered<C: crate::Reads>(
    c: &C,
    q: &FunnelQuery<'_>,
    only: Option<Filter>,
) -> Result<Vec<Entered>, StoreError> {
    let backend = c.get_database_backend();
    let mut s = moves(q, backend, only);
    s.column(MoveCol::ToStage)
        .expr_as(Expr::cust("COUNT(DISTINCT \"record_id\")"), Alias::new("n"))
        .group_by_col(MoveCol::ToStage);
    crate::rows::all(c, &s).await
}

/// Distinct records among the moves counted (a snapshot's records).
pub async fn entered_records<C: crate::Reads>(c: &C, q: &FunnelQuery<'_>) -> Result<i64, StoreError> {
    let mut s = moves(q, c.get_database_backend(), None);
    s.expr_as(Expr::cust("COUNT(DISTINCT \"record_id\")"), crate::rows::Count::alias());
    crate::rows::Count::of(c, &s).await
}

/// A snapshot: per rank (0..=`top`), the crossings of the period's moves. `lost` lists the lost
/// stages.
pub async fn crossings<C: crate::Reads>(
    c: &C,
    q: &FunnelQuery<'_>,
    top: i64,
    lost: &[String],
) -> Result<Vec<Crossings>, StoreError> {
    let backend = c.get_database_backend();
    let mut per_move = moves(q, backend, None);
    per_move
        .column(MoveCol::RecordId)
        .expr_as(
            Expr::cust(format!("COALESCE({}, -1)", rank_sql("\"from_stage\"", &q.ranks))),
            Alias::new("rf"),
        )
        .expr_as(Expr::cust(rank_sql("\"to_stage\"", &q.ranks)), Alias::new("rt"))
        .expr_as(
            Expr::cust(rank_sql(
                &current_stage_sql(q.table, "\"sys_stage_moves\".\"record_id\""),
                &q.ranks,
            )),
            Alias::new("rn"),
        );
    let lost_list = if lost.is_empty() {
        "''".to_string()
    } else {
        lost.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(", ")
    };
    per_move.expr_as(
        Expr::cust(format!("CASE WHEN \"to_stage\" IN ({lost_list}) THEN 1 ELSE 0 END")),
        Alias::new("tl"),
    );
    let mut s = Query::select();
    for i in 0..=top {
        // Into this rank from below: entering it, or passing it by a skip (not a lost record:
        // its current stage has no rank).
        let into = format!("\"rf\" < {i} AND (\"rt\" = {i} OR (\"rt\" > {i} AND \"rn\" IS NOT NULL))");
        s.expr_as(
            Expr::cust(format!("COUNT(DISTINCT CASE WHEN {into} THEN \"record_id\" END)")),
            Alias::new(format!("e{i}")),
        )
        .expr_as(
            Expr::cust(format!(
                "COUNT(DISTINCT CASE WHEN \"rf\" >= 0 AND \"rt\" > {i} AND (\"rf\" = {i} OR (\"rf\" < {i} AND \"rn\" IS NOT NULL)) THEN \"record_id\" END)"
            )),
            Alias::new(format!("a{i}")),
        )
        .expr_as(
            Expr::cust(format!(
                "COUNT(DISTINCT CASE WHEN \"tl\" = 1 AND \"rf\" = {i} THEN \"record_id\" END)"
            )),
            Alias::new(format!("l{i}")),
        )
        .expr_as(
            Expr::cust(format!(
                "COUNT(DISTINCT CASE WHEN {into} AND \"rn\" = {i} THEN \"record_id\" END)"
            )),
            Alias::new(format!("s{i}")),
        );
    }
    s.from_subquery(per_move, Alias::new("m"));
    let Some(row) = c.query_one(&s).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for i in 0..=top {
        let get = |p: &str| row.try_get::<i64>("", &format!("{p}{i}"));
        out.push(Crossings {
            entered: get("e")?,
            advanced: get("a")?,
            lost: get("l")?,
            still_in: get("s")?,
        });
    }
    Ok(out)
}

/// Seconds records spent in a stage they left: how many left it, and the values at the given
/// quantiles (nearest rank), among the moves counted.
pub async fn time_in_stage<C: crate::Reads>(
    c: &C,
    q: &FunnelQuery<'_>,
    stage: &str,
    quantiles: &[f64],
) -> Result<(i64, Vec<Option<f64>>), StoreError> {
    let backend = c.get_database_backend();
    let base = || {
        let mut s = moves(q, backend, None);
        s.and_where(Expr::col(MoveCol::FromStage).eq(stage))
            .and_where(Expr::col(MoveCol::SecondsInFrom).is_not_null());
        s
    };
    let mut count = base();
    count.expr_as(Expr::cust("COUNT(*)"), crate::rows::Count::alias());
    let n = crate::rows::Count::of(c, &count).await?;
    let mut out = Vec::with_capacity(quantiles.len());
    for &p in quantiles {
        if n == 0 {
            out.push(None);
            continue;
        }
        let k = ((p * n as f64).ceil() as i64 - 1).clamp(0, n - 1);
        let mut s = base();
        s.column(MoveCol::SecondsInFrom)
            .order_by(MoveCol::SecondsInFrom, Order::Asc)
            .limit(1)
            .offset(k as u64);
        #[derive(FromQueryResult)]
        struct Secs {
            seconds_in_from: Option<f64>,
        }
        let v: Vec<Secs> = crate::rows::all(c, &s).await?;
        out.push(v.into_iter().next().and_then(|s| s.seconds_in_from));
    }
    Ok((n, out))
}
