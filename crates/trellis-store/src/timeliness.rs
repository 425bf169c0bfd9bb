//! The raw rows of the timeliness reports (SLA, first follow-up): the moves records made out of
//! a stage with the time they spent in it and the due time they had there, and per record the
//! first instant something followed it up (its first move out of a stage, or the first record
//! of another entity pointing at it). The records counted are those of the entity's table a
//! checked filter keeps (the caller's row scope and their filter); the reports aggregate the
//! rows in the engine, so each query takes a limit.

use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement};
use trellis_core::query::Filter;

use crate::error::StoreError;
use crate::records::condition;
use crate::stages::MoveCol;

/// Whose moves a report reads.
#[derive(Debug, Clone)]
pub struct MovesOf<'a> {
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

/// The ids of a table's records a filter keeps.
fn ids(table: &str, filter: Option<&Filter>, backend: sea_orm::DbBackend) -> SelectStatement {
    let mut s = Query::select();
    s.column(a("id")).from(a(table));
    if let Some(f) = filter {
        s.cond_where(condition(f, backend));
    }
    s
}

/// A move out of a stage, with the owner of its record now.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct MoveOut {
    pub from_stage: String,
    pub owner: Option<String>,
    pub moved_at: DateTime<Utc>,
    pub seconds_in_from: Option<f64>,
    pub from_due_at: Option<DateTime<Utc>>,
}

/// The moves out of a stage of the records counted made in `[from, to)`, at most `limit`.
pub async fn moves_out<C: crate::Reads>(
    c: &C,
    q: &MovesOf<'_>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: u64,
) -> Result<Vec<MoveOut>, StoreError> {
    let backend = c.get_database_backend();
    let t = q.table;
    let mut s = Query::select();
    s.column(MoveCol::FromStage)
        .expr_as(
            Expr::cust(format!(
                "(SELECT \"owner\" FROM \"{t}\" WHERE \"{t}\".\"id\" = \"sys_stage_moves\".\"record_id\")"
            )),
            a("owner"),
        )
        .column(MoveCol::MovedAt)
        .column(MoveCol::SecondsInFrom)
        .column(MoveCol::FromDueAt)
        .from(MoveCol::Table)
        .and_where(Expr::col(MoveCol::TenantId).eq(q.tenant_id))
        .and_where(Expr::col(MoveCol::EntityId).eq(q.entity_id))
        .and_where(Expr::col(MoveCol::FromStage).is_not_null())
        .and_where(Expr::col(MoveCol::RecordId).in_subquery(ids(t, q.records.as_ref(), backend)))
        .limit(limit);
    if let Some(from) = from {
        s.and_where(Expr::col(MoveCol::MovedAt).gte(from));
    }
    if let Some(to) = to {
        s.and_where(Expr::col(MoveCol::MovedAt).lt(to));
    }
    crate::rows::all(c, &s).await
}

/// The first instant something followed a record up.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct FirstAt {
    pub record_id: String,
    pub at: Option<DateTime<Utc>>,
}

/// Per record counted (and kept by `only` too), its first move out of `stage`.
pub async fn first_moves_from<C: crate::Reads>(
    c: &C,
    q: &MovesOf<'_>,
    only: Option<&Filter>,
    stage: &str,
) -> Result<Vec<FirstAt>, StoreError> {
    let backend = c.get_database_backend();
    let mut records = ids(q.table, q.records.as_ref(), backend);
    if let Some(f) = only {
        records.cond_where(condition(f, backend));
    }
    let mut s = Query::select();
    s.column(MoveCol::RecordId)
        .expr_as(Expr::cust("MIN(\"moved_at\")"), a("at"))
        .from(MoveCol::Table)
        .and_where(Expr::col(MoveCol::TenantId).eq(q.tenant_id))
        .and_where(Expr::col(MoveCol::EntityId).eq(q.entity_id))
        .and_where(Expr::col(MoveCol::FromStage).eq(stage))
        .and_where(Expr::col(MoveCol::RecordId).in_subquery(records))
        .group_by_col(MoveCol::RecordId);
    crate::rows::all(c, &s).await
}

/// Per record counted (and kept by `only` too), the creation of the first record of
/// `related_table` (among those `related` keeps) whose `relation_column` points at it.
pub async fn first_related<C: crate::Reads>(
    c: &C,
    q: &MovesOf<'_>,
    only: Option<&Filter>,
    related_table: &str,
    relation_column: &str,
    related: Option<&Filter>,
) -> Result<Vec<FirstAt>, StoreError> {
    let backend = c.get_database_backend();
    let mut records = ids(q.table, q.records.as_ref(), backend);
    if let Some(f) = only {
        records.cond_where(condition(f, backend));
    }
    let mut s = Query::select();
    s.expr_as(Expr::col(a(relation_column)), a("record_id"))
        .expr_as(Expr::cust("MIN(\"created_at\")"), a("at"))
        .from(a(related_table))
        .and_where(Expr::col(a(relation_column)).in_subquery(records))
        .group_by_col(a(relation_column));
    if let Some(f) = related {
        s.cond_where(condition(f, backend));
    }
    crate::rows::all(c, &s).await
}
