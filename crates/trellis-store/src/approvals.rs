//! Approval requests of transitions and the votes on them.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, Order, Query};
use sea_orm::{DeriveIden, FromQueryResult};
use trellis_core::status::ApprovalStatus;

use crate::error::StoreError;
use crate::rows;

#[derive(Debug, Clone, FromQueryResult)]
pub struct ApprovalRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub entity_id: String,
    pub record_id: String,
    pub from_stage: String,
    pub to_stage: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub comment: Option<String>,
    /// JSON array of the evidence given with the request.
    pub evidence: String,
    /// JSON of the approval policy at the time of the request.
    pub policy: String,
    /// `trellis_core::status::ApprovalStatus`: `pending`, `approved`, `rejected`.
    pub status: String,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct VoteRow {
    pub approval_id: String,
    pub user_id: String,
    pub on_behalf_of: Option<String>,
    /// `trellis_core::status::VoteDecision`: `approve` or `reject`.
    pub decision: String,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

/// `sys_approval_votes` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysApprovalVotes {
    Table,
    ApprovalId,
    At,
    Comment,
    Decision,
    OnBehalfOf,
    UserId,
}

/// `sys_approvals` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysApprovals {
    Table,
    AppId,
    Comment,
    DecidedAt,
    EntityId,
    Evidence,
    FromStage,
    Id,
    Policy,
    Reason,
    RecordId,
    RequestedAt,
    RequestedBy,
    Status,
    TenantId,
    ToStage,
}

const COLS: [SysApprovals; 15] = [
    SysApprovals::Id,
    SysApprovals::TenantId,
    SysApprovals::AppId,
    SysApprovals::EntityId,
    SysApprovals::RecordId,
    SysApprovals::FromStage,
    SysApprovals::ToStage,
    SysApprovals::RequestedBy,
    SysApprovals::RequestedAt,
    SysApprovals::Comment,
    SysApprovals::Evidence,
    SysApprovals::Policy,
    SysApprovals::Status,
    SysApprovals::DecidedAt,
    SysApprovals::Reason,
];

pub async fn insert<C: crate::Writes>(c: &C, r: &ApprovalRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysApprovals::Table)
        .columns(COLS)
        .values_panic([
            r.id.clone().into(),
            r.tenant_id.clone().into(),
            r.app_id.clone().into(),
            r.entity_id.clone().into(),
            r.record_id.clone().into(),
            r.from_stage.clone().into(),
            r.to_stage.clone().into(),
            r.requested_by.clone().into(),
            r.requested_at.into(),
            r.comment.clone().into(),
            r.evidence.clone().into(),
            r.policy.clone().into(),
            r.status.clone().into(),
            r.decided_at.into(),
            r.reason.clone().into(),
        ])
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

pub async fn get<C: crate::Reads>(c: &C, tenant_id: &str, id: &str) -> Result<Option<ApprovalRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysApprovals::Table)
        .and_where(Expr::col(SysApprovals::Id).eq(id))
        .and_where(Expr::col(SysApprovals::TenantId).eq(tenant_id))
        .to_owned();
    rows::one(c, &q).await
}

/// Approvals of a tenant with a status (and optionally of one app), oldest first.
pub async fn with_status<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    app_id: Option<&str>,
    status: &str,
    limit: u64,
) -> Result<Vec<ApprovalRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS)
        .from(SysApprovals::Table)
        .and_where(Expr::col(SysApprovals::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysApprovals::Status).eq(status))
        .order_by(SysApprovals::RequestedAt, Order::Asc)
        .limit(limit);
    if let Some(app) = app_id {
        q.and_where(Expr::col(SysApprovals::AppId).eq(app));
    }
    rows::all(c, &q).await
}

/// A record's approvals, newest first.
pub async fn of_record<C: crate::Reads>(c: &C, record_id: &str) -> Result<Vec<ApprovalRow>, StoreError> {
    let q = Query::select()
        .columns(COLS)
        .from(SysApprovals::Table)
        .and_where(Expr::col(SysApprovals::RecordId).eq(record_id))
        .order_by(SysApprovals::RequestedAt, Order::Desc)
        .to_owned();
    rows::all(c, &q).await
}

/// Closes a pending approval; false when it was no longer pending.
pub async fn decide<C: crate::Writes>(
    c: &C,
    id: &str,
    status: &str,
    at: DateTime<Utc>,
    reason: Option<&str>,
) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(SysApprovals::Table)
        .value(SysApprovals::Status, status)
        .value(SysApprovals::DecidedAt, at)
        .value(SysApprovals::Reason, reason.map(str::to_string))
        .and_where(Expr::col(SysApprovals::Id).eq(id))
        .and_where(Expr::col(SysApprovals::Status).eq(ApprovalStatus::Pending.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Records a vote; fails with a unique violation when the user already voted.
pub async fn insert_vote<C: crate::Writes>(c: &C, v: &VoteRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysApprovalVotes::Table)
        .columns([
            SysApprovalVotes::ApprovalId,
            SysApprovalVotes::UserId,
            SysApprovalVotes::OnBehalfOf,
            SysApprovalVotes::Decision,
            SysApprovalVotes::Comment,
            SysApprovalVotes::At,
        ])
        .values_panic([
            v.approval_id.clone().into(),
            v.user_id.clone().into(),
            v.on_behalf_of.clone().into(),
            v.decision.clone().into(),
            v.comment.clone().into(),
            v.at.into(),
        ])
        .to_owned();
    c.execute(&q).await.map_err(StoreError::classify)?;
    Ok(())
}

pub async fn votes<C: crate::Reads>(c: &C, approval_id: &str) -> Result<Vec<VoteRow>, StoreError> {
    let q = Query::select()
        .columns([
            SysApprovalVotes::ApprovalId,
            SysApprovalVotes::UserId,
            SysApprovalVotes::OnBehalfOf,
            SysApprovalVotes::Decision,
            SysApprovalVotes::Comment,
            SysApprovalVotes::At,
        ])
        .from(SysApprovalVotes::Table)
        .and_where(Expr::col(SysApprovalVotes::ApprovalId).eq(approval_id))
        .order_by(SysApprovalVotes::At, Order::Asc)
        .to_owned();
    rows::all(c, &q).await
}
