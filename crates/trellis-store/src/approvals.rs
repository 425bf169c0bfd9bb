//! Approval requests of transitions and the votes on them.

use chrono::{DateTime, Utc};
use sea_orm::QueryResult;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Order, Query};

use crate::error::StoreError;

#[derive(Debug, Clone)]
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

#[derive(Debug, Clone)]
pub struct VoteRow {
    pub approval_id: String,
    pub user_id: String,
    pub on_behalf_of: Option<String>,
    /// `trellis_core::status::VoteDecision`: `approve` or `reject`.
    pub decision: String,
    pub comment: Option<String>,
    pub at: DateTime<Utc>,
}

fn a(s: &str) -> Alias {
    Alias::new(s)
}

const COLS: [&str; 15] = [
    "id",
    "tenant_id",
    "app_id",
    "entity_id",
    "record_id",
    "from_stage",
    "to_stage",
    "requested_by",
    "requested_at",
    "comment",
    "evidence",
    "policy",
    "status",
    "decided_at",
    "reason",
];

fn approval(r: &QueryResult) -> Result<ApprovalRow, StoreError> {
    Ok(ApprovalRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        app_id: r.try_get("", "app_id")?,
        entity_id: r.try_get("", "entity_id")?,
        record_id: r.try_get("", "record_id")?,
        from_stage: r.try_get("", "from_stage")?,
        to_stage: r.try_get("", "to_stage")?,
        requested_by: r.try_get("", "requested_by")?,
        requested_at: r.try_get("", "requested_at")?,
        comment: r.try_get("", "comment")?,
        evidence: r.try_get("", "evidence")?,
        policy: r.try_get("", "policy")?,
        status: r.try_get("", "status")?,
        decided_at: r.try_get("", "decided_at")?,
        reason: r.try_get("", "reason")?,
    })
}

pub async fn insert<C: crate::Writes>(c: &C, r: &ApprovalRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_approvals"))
        .columns(COLS.map(a))
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

pub async fn get<C: crate::Writes>(c: &C, tenant_id: &str, id: &str) -> Result<Option<ApprovalRow>, StoreError> {
    let q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_approvals"))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(approval).transpose()
}

/// Approvals of a tenant with a status (and optionally of one app), oldest first.
pub async fn with_status<C: crate::Writes>(
    c: &C,
    tenant_id: &str,
    app_id: Option<&str>,
    status: &str,
    limit: u64,
) -> Result<Vec<ApprovalRow>, StoreError> {
    let mut q = Query::select();
    q.columns(COLS.map(a))
        .from(a("sys_approvals"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("status")).eq(status))
        .order_by(a("requested_at"), Order::Asc)
        .limit(limit);
    if let Some(app) = app_id {
        q.and_where(Expr::col(a("app_id")).eq(app));
    }
    c.query_all(&q).await?.iter().map(approval).collect()
}

/// A record's approvals, newest first.
pub async fn of_record<C: crate::Writes>(c: &C, record_id: &str) -> Result<Vec<ApprovalRow>, StoreError> {
    let q = Query::select()
        .columns(COLS.map(a))
        .from(a("sys_approvals"))
        .and_where(Expr::col(a("record_id")).eq(record_id))
        .order_by(a("requested_at"), Order::Desc)
        .to_owned();
    c.query_all(&q).await?.iter().map(approval).collect()
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
        .table(a("sys_approvals"))
        .value(a("status"), status)
        .value(a("decided_at"), at)
        .value(a("reason"), reason.map(str::to_string))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("status")).eq("pending"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Records a vote; fails with a unique violation when the user already voted.
pub async fn insert_vote<C: crate::Writes>(c: &C, v: &VoteRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_approval_votes"))
        .columns(["approval_id", "user_id", "on_behalf_of", "decision", "comment", "at"].map(a))
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

pub async fn votes<C: crate::Writes>(c: &C, approval_id: &str) -> Result<Vec<VoteRow>, StoreError> {
    let q = Query::select()
        .columns(["approval_id", "user_id", "on_behalf_of", "decision", "comment", "at"].map(a))
        .from(a("sys_approval_votes"))
        .and_where(Expr::col(a("approval_id")).eq(approval_id))
        .order_by(a("at"), Order::Asc)
        .to_owned();
    c.query_all(&q)
        .await?
        .iter()
        .map(|r| {
            Ok(VoteRow {
                approval_id: r.try_get("", "approval_id")?,
                user_id: r.try_get("", "user_id")?,
                on_behalf_of: r.try_get("", "on_behalf_of")?,
                decision: r.try_get("", "decision")?,
                comment: r.try_get("", "comment")?,
                at: r.try_get("", "at")?,
            })
        })
        .collect()
}
