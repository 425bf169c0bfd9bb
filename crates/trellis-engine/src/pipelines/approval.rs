//! Approvals: a held move, its approvers and votes (delegates included), the policy that
//! decides it, and the approvals a user may read or decide.

use std::collections::HashMap;
use trellis_core::error::FieldCode;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use trellis_core::permissions::Right;
use trellis_core::pipeline::{ApprovalMode, ApprovalPolicy, StageDef};
use trellis_core::status::{ApprovalStatus, EventKind, VoteDecision};
use trellis_core::{CompiledEntity, Error, ErrorCode, FieldError, Label, Val};
use trellis_rules::UserInfo;
use trellis_store::records::{self, Row};
use trellis_store::{StoreError, approvals, directory, system};

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;
use crate::events::{EventDraft, record_event};
use crate::records::{RecordOut, record_json};

use super::*;

/// The read scope of each (app id, entity id) of approvals: `None` without the read right.
pub(super) type ReadReach =
    HashMap<(String, String), Option<(std::sync::Arc<CompiledEntity>, Option<trellis_core::query::Filter>)>>;

/// A request to approve a move, with its votes.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Approval {
    pub id: String,
    /// The record's id.
    pub record: String,
    /// The stage the record is in.
    pub from: String,
    /// The stage it moves to when approved.
    pub to: String,
    pub status: ApprovalStatus,
    pub requested_by: String,
    #[schema(format = DateTime)]
    pub requested_at: String,
    /// The comment of the transition request.
    pub comment: Option<String>,
    /// The files attached to the request (their metadata and kind).
    pub evidence: Value,
    /// Who must approve, and how many (`pipeline.schema.json`).
    pub policy: Value,
    #[schema(format = DateTime)]
    pub decided_at: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    pub votes: Vec<Vote>,
}

/// One approver's vote.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Vote {
    pub user: String,
    /// The user the voter stood in for by delegation.
    pub on_behalf_of: Option<String>,
    pub decision: VoteDecision,
    pub comment: Option<String>,
    #[schema(format = DateTime)]
    pub at: String,
}

impl Engine {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn request_approval(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &CompiledEntity,
        mut row: Row,
        from: &StageDef,
        to: &StageDef,
        policy: &ApprovalPolicy,
        req: &Request,
        evidence: &[Evidence],
    ) -> Result<(RecordOut, Approval), Error> {
        let now = trellis_core::value::now_micros();
        let id = row.id().to_string();
        let pending = col(entity, "pending_stage")?;
        let values = vec![(pending, Val::Text(to.key.to_string()))];
        if !records::update(tx, entity, &id, Some(row.version()), now, None, &values).await? {
            return Err(crate::records::stale(row.version()));
        }
        let approval = approvals::ApprovalRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: ctx.tenant_id().to_string(),
            app_id: app.id.clone(),
            entity_id: entity.def.storage_id().to_string(),
            record_id: id.clone(),
            from_stage: from.key.to_string(),
            to_stage: to.key.to_string(),
            requested_by: ctx.user_id().to_string(),
            requested_at: now,
            comment: req.comment.clone(),
            evidence: Value::Array(evidence.iter().map(Evidence::to_json).collect()).to_string(),
            policy: serde_json::to_string(policy).map_err(|e| Error::internal(e.to_string()))?,
            status: ApprovalStatus::Pending.to_string(),
            decided_at: None,
            reason: None,
        };
        approvals::insert(tx, &approval).await?;
        record_event(
            tx,
            EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: &id,
                kind: EventKind::ApprovalRequested,
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: json!({"approval": approval.id, "from": from.key, "to": to.key, "comment": req.comment}),
            },
        )
        .await?;
        let approvers = self.approvers(tx, app, policy).await?;
        crate::notifications::notify(
            tx,
            ctx.tenant_id(),
            &approvers
                .into_iter()
                .filter(|u| policy.allow_self || u != ctx.user_id())
                .collect::<Vec<_>>(),
            trellis_core::status::NotificationKind::ApprovalRequested,
            &Label::new(
                &format!(
                    "待审批：{} → {}",
                    from.label.display(from.key.as_str()),
                    to.label.display(to.key.as_str())
                ),
                &format!(
                    "Approval needed: {} → {}",
                    from.label.display(from.key.as_str()),
                    to.label.display(to.key.as_str())
                ),
            ),
            json!({"app": app.def.name, "entity": entity.name(), "record": id, "approval": approval.id}),
        )
        .await?;
        if let Some(i) = entity.columns.iter().position(|c| c.name == "pending_stage") {
            row.values[i] = Some(Val::Text(to.key.to_string()));
        }
        bump(entity, &mut row, now);
        let approval = self.approval_out(tx, &approval).await?;
        Ok((
            RecordOut {
                json: record_json(entity, &row),
                version: row.version(),
            },
            approval,
        ))
    }

    /// Users named by an approval policy (members of its roles and its users).
    pub(super) async fn approvers<C: trellis_store::Reads>(
        &self,
        conn: &C,
        app: &LoadedApp,
        policy: &ApprovalPolicy,
    ) -> Result<Vec<String>, Error> {
        let mut out: Vec<String> = policy.users.clone();
        for r in &policy.roles {
            for u in directory::members_of(conn, &app.id, r.as_str()).await? {
                if !out.contains(&u) {
                    out.push(u);
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn approval_out<C: trellis_store::Reads>(
        &self,
        conn: &C,
        a: &approvals::ApprovalRow,
    ) -> Result<Approval, Error> {
        let stored = |what: &str, word: &str| Error::internal(format!("unknown {what} '{word}' stored"));
        let votes = approvals::votes(conn, &a.id)
            .await?
            .into_iter()
            .map(|v| {
                Ok(Vote {
                    decision: VoteDecision::parse(&v.decision).ok_or_else(|| stored("vote", &v.decision))?,
                    user: v.user_id,
                    on_behalf_of: v.on_behalf_of,
                    comment: v.comment,
                    at: trellis_core::value::format_datetime(&v.at),
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(Approval {
            id: a.id.clone(),
            record: a.record_id.clone(),
            from: a.from_stage.clone(),
            to: a.to_stage.clone(),
            status: ApprovalStatus::parse(&a.status).ok_or_else(|| stored("approval status", &a.status))?,
            requested_by: a.requested_by.clone(),
            requested_at: trellis_core::value::format_datetime(&a.requested_at),
            comment: a.comment.clone(),
            evidence: serde_json::from_str::<Value>(&a.evidence).unwrap_or(Value::Null),
            policy: serde_json::from_str::<Value>(&a.policy).unwrap_or(Value::Null),
            decided_at: a.decided_at.as_ref().map(trellis_core::value::format_datetime),
            reason: a.reason.clone(),
            votes,
        })
    }

    /// Approvals of the tenant with a status; `mine` keeps those the caller may decide.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn list_approvals(
        &self,
        ctx: &TenantCtx,
        status: ApprovalStatus,
        mine: bool,
    ) -> Result<Vec<Approval>, Error> {
        let rows = approvals::with_status(&self.db.read, ctx.tenant_id(), None, status.as_str(), 500).await?;
        let mut out = Vec::new();
        let mut reach = ReadReach::default();
        for a in rows {
            if !self.reads_approval(&self.db.read, ctx, &a, &mut reach).await? {
                continue;
            }
            if mine {
                let policy: ApprovalPolicy =
                    serde_json::from_str(&a.policy).map_err(|e| Error::internal(e.to_string()))?;
                if self
                    .standing(&self.db.read, ctx, &a, &policy, trellis_core::value::now_micros())
                    .await?
                    .is_none()
                {
                    continue;
                }
            }
            out.push(self.approval_out(&self.db.read, &a).await?);
        }
        Ok(out)
    }

    /// One approval, for a user who may read its record (otherwise it does not exist for them).
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn get_approval(&self, ctx: &TenantCtx, id: &str) -> Result<Approval, Error> {
        let a = approvals::get(&self.db.read, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::not_found("no such approval"))?;
        if !self
            .reads_approval(&self.db.read, ctx, &a, &mut ReadReach::default())
            .await?
        {
            return Err(Error::not_found("no such approval"));
        }
        self.approval_out(&self.db.read, &a).await
    }

    /// Whether the caller may read the record of an approval: the read right on its entity and
    /// the record in its scope. Approvals carry no field values (evidence is file metadata), so
    /// hidden fields need nothing more. `reach` keeps each (app, entity)'s scope for a list.
    pub(super) async fn reads_approval<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        a: &approvals::ApprovalRow,
        reach: &mut ReadReach,
    ) -> Result<bool, Error> {
        if ctx.is_admin() {
            return Ok(true);
        }
        let key = (a.app_id.clone(), a.entity_id.clone());
        if !reach.contains_key(&key) {
            let found = match self.approval_app_row(conn, ctx, a).await {
                Ok((app, entity)) => {
                    let access = self.access(conn, ctx, &app, &entity).await?;
                    if access.grant.reach(Right::Read).is_none() {
                        None
                    } else {
                        let scope = self.scope(conn, ctx, &access, Right::Read).await?;
                        Some((entity, scope))
                    }
                }
                Err(e) if e.code == ErrorCode::NotFound => None,
                Err(e) => return Err(e),
            };
            reach.insert(key.clone(), found);
        }
        Ok(match &reach[&key] {
            None => false,
            Some((_, None)) => true,
            Some((entity, Some(scope))) => crate::access::get_scoped(conn, entity, &a.record_id, Some(scope), None)
                .await?
                .is_some(),
        })
    }

    /// Whom the caller stands for on an approval: themselves, or a user they are delegated by.
    /// None when they may not decide it.
    pub(super) async fn standing<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        a: &approvals::ApprovalRow,
        policy: &ApprovalPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, Error> {
        let mut candidates = vec![ctx.user_id().to_string()];
        candidates.extend(directory::principals_of(conn, ctx.tenant_id(), ctx.user_id(), now).await?);
        for who in candidates {
            if who == a.requested_by && !policy.allow_self {
                continue;
            }
            if policy.users.contains(&who) {
                return Ok(Some(who));
            }
            let roles = directory::roles_of(conn, &a.app_id, &who).await?;
            if policy.roles.iter().any(|r| roles.iter().any(|x| x == r.as_str())) {
                return Ok(Some(who));
            }
        }
        Ok(None)
    }

    /// Approves or rejects (`decision` = true approves). The last approval the policy needs
    /// moves the record, re-checking the transition's conditions; a rejection (a reason is
    /// required) returns it to its stage. Every vote and decision lands in the history.
    #[tracing::instrument(level = "debug", skip_all, fields(id = %id))]
    pub async fn decide_approval(
        &self,
        ctx: &TenantCtx,
        id: &str,
        approve: bool,
        comment: Option<&str>,
    ) -> Result<Approval, Error> {
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.chars().count() > MAX_COMMENT) {
            return Err(Error::bad_field(
                "comment",
                FieldCode::TooLong,
                format!("at most {MAX_COMMENT} characters"),
            ));
        }
        if !approve && comment.is_none() {
            return Err(Error::validation(vec![FieldError::new(
                "comment",
                FieldCode::Required,
                "a rejection needs a reason",
            )]));
        }
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let a = approvals::get(&tx, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::not_found("no such approval"))?;
        if !self.reads_approval(&tx, ctx, &a, &mut ReadReach::default()).await? {
            return Err(Error::not_found("no such approval"));
        }
        if a.status != ApprovalStatus::Pending.as_str() {
            return Err(Error::conflict(format!("the approval is already {}", a.status)));
        }
        let policy: ApprovalPolicy = serde_json::from_str(&a.policy).map_err(|e| Error::internal(e.to_string()))?;
        let now = trellis_core::value::now_micros();
        let Some(stands_for) = self.standing(&tx, ctx, &a, &policy, now).await? else {
            return Err(Error::permission_denied(if ctx.user_id() == a.requested_by {
                "you asked for this approval and may not approve it yourself"
            } else {
                "you are not an approver of this request"
            }));
        };
        let vote = approvals::VoteRow {
            approval_id: a.id.clone(),
            user_id: ctx.user_id().to_string(),
            on_behalf_of: (stands_for != ctx.user_id()).then(|| stands_for.clone()),
            decision: if approve {
                VoteDecision::Approve
            } else {
                VoteDecision::Reject
            }
            .as_str()
            .into(),
            comment: comment.map(str::to_string),
            at: now,
        };
        approvals::insert_vote(&tx, &vote).await.map_err(|e| {
            if e.is_unique_violation() {
                Error::conflict("you have already decided this approval")
            } else {
                e.into()
            }
        })?;
        let row = self.approval_app_row(&tx, ctx, &a).await?;
        let (app, entity) = (&row.0, &row.1);
        let record = records::get(&tx, entity, &a.record_id, None)
            .await?
            .ok_or_else(|| Error::not_found("the record of this approval is gone"))?;
        let outcome = if !approve {
            ApprovalStatus::Rejected
        } else if self.policy_met(&tx, &a, &policy).await? {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Pending
        };
        record_event(
            &tx,
            EventDraft {
                tenant_id: ctx.tenant_id(),
                app,
                entity,
                record_id: &a.record_id,
                kind: if approve {
                    EventKind::ApprovalApprovedVote
                } else {
                    EventKind::ApprovalRejectedVote
                },
                actor: Some(ctx.user_id()),
                via: ctx.via(),
                depth: ctx.depth(),
                data: json!({"approval": a.id, "on_behalf_of": vote.on_behalf_of, "comment": comment}),
            },
        )
        .await?;
        match outcome {
            ApprovalStatus::Rejected => {
                approvals::decide(&tx, &a.id, ApprovalStatus::Rejected.as_str(), now, comment).await?;
                let pending = col(entity, "pending_stage")?;
                records::update(&tx, entity, &a.record_id, None, now, None, &[(pending, Val::Null)]).await?;
                record_event(
                    &tx,
                    EventDraft {
                        tenant_id: ctx.tenant_id(),
                        app,
                        entity,
                        record_id: &a.record_id,
                        kind: EventKind::ApprovalRejected,
                        actor: Some(ctx.user_id()),
                        via: ctx.via(),
                        depth: ctx.depth(),
                        data: json!({"approval": a.id, "from": a.from_stage, "to": a.to_stage, "reason": comment}),
                    },
                )
                .await?;
                crate::notifications::notify(
                    &tx,
                    ctx.tenant_id(),
                    std::slice::from_ref(&a.requested_by),
                    trellis_core::status::NotificationKind::ApprovalRejected,
                    &Label::new("审批被驳回", "Approval rejected"),
                    json!({"app": app.def.name, "entity": entity.name(), "record": a.record_id, "approval": a.id, "reason": comment}),
                )
                .await?;
            }
            ApprovalStatus::Approved => {
                let p = pipeline_of(entity)?;
                let from = current_stage(p, entity, &record);
                let to = p
                    .stage(&a.to_stage)
                    .ok_or_else(|| Error::conflict("the stage this approval leads to no longer exists"))?;
                let t = p.transition(from.key.as_str(), to.key.as_str()).ok_or_else(|| {
                    Error::conflict("the pipeline no longer has this transition; the approval cannot complete")
                })?;
                let evidence: Vec<Evidence> = serde_json::from_str::<Vec<Value>>(&a.evidence)
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| {
                        Some(Evidence {
                            file: FileMeta {
                                id: v.get("id")?.as_str()?.to_string(),
                                name: v.get("name")?.as_str()?.to_string(),
                                size: v.get("size")?.as_i64()?,
                                content_type: v.get("content_type")?.as_str()?.to_string(),
                                sha256: v.get("sha256")?.as_str()?.to_string(),
                            },
                            kind: v.get("kind").and_then(Value::as_str).map(str::to_string),
                        })
                    })
                    .collect();
                let requester = UserInfo {
                    id: a.requested_by.clone(),
                    roles: directory::roles_of(&tx, &app.id, &a.requested_by).await?,
                    team: crate::access::first_team(&tx, ctx.tenant_id(), &a.requested_by).await?,
                };
                let related = self.related_for_guards(&tx, app, entity, &record).await?;
                // Told to the approver: through the approver's view.
                let hidden = self.hidden_fields(&tx, ctx, app).await?;
                // The record may have changed while it waited: its conditions must still hold.
                let problems = unmet(
                    self,
                    app,
                    entity,
                    p,
                    from,
                    t,
                    &record,
                    &evidence,
                    a.comment.as_deref(),
                    &requester,
                    &related,
                    &hidden,
                );
                if !problems.is_empty() {
                    return Err(blocked(problems));
                }
                approvals::decide(&tx, &a.id, ApprovalStatus::Approved.as_str(), now, None).await?;
                record_event(
                    &tx,
                    EventDraft {
                        tenant_id: ctx.tenant_id(),
                        app,
                        entity,
                        record_id: &a.record_id,
                        kind: EventKind::ApprovalApproved,
                        actor: Some(ctx.user_id()),
                        via: ctx.via(),
                        depth: ctx.depth(),
                        data: json!({"approval": a.id, "from": a.from_stage, "to": a.to_stage}),
                    },
                )
                .await?;
                self.apply_transition(
                    &tx,
                    ctx.tenant_id(),
                    Some(&a.requested_by),
                    (ctx.via(), ctx.depth()),
                    app,
                    entity,
                    record,
                    to,
                    a.comment.as_deref(),
                    &evidence,
                    Some(&a.id),
                )
                .await?;
                crate::notifications::notify(
                    &tx,
                    ctx.tenant_id(),
                    std::slice::from_ref(&a.requested_by),
                    trellis_core::status::NotificationKind::ApprovalApproved,
                    &Label::new("审批已通过", "Approval granted"),
                    json!({"app": app.def.name, "entity": entity.name(), "record": a.record_id, "approval": a.id}),
                )
                .await?;
            }
            _ => {}
        }
        let a = approvals::get(&tx, ctx.tenant_id(), id)
            .await?
            .ok_or_else(|| Error::internal("approval vanished"))?;
        let out = self.approval_out(&tx, &a).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_dispatcher();
        Ok(out)
    }

    pub(super) async fn approval_app_row<C: trellis_store::Reads>(
        &self,
        conn: &C,
        ctx: &TenantCtx,
        a: &approvals::ApprovalRow,
    ) -> Result<(std::sync::Arc<LoadedApp>, std::sync::Arc<CompiledEntity>), Error> {
        let row = system::app_by_id(conn, &a.app_id)
            .await?
            .filter(|r| r.tenant_id == ctx.tenant_id())
            .ok_or_else(|| Error::not_found("the app of this approval is gone"))?;
        let app = self.compiled_app(ctx, &row.name).await?;
        let entity = app
            .entity_by_id(&a.entity_id)
            .ok_or_else(|| Error::not_found("the entity of this approval is gone"))?;
        Ok((app, entity))
    }

    /// Whether the approvals so far satisfy the policy.
    pub(super) async fn policy_met<C: trellis_store::Reads>(
        &self,
        conn: &C,
        a: &approvals::ApprovalRow,
        policy: &ApprovalPolicy,
    ) -> Result<bool, Error> {
        let votes = approvals::votes(conn, &a.id).await?;
        let approvers: Vec<String> = votes
            .iter()
            .filter(|v| v.decision == VoteDecision::Approve)
            .map(|v| v.on_behalf_of.clone().unwrap_or_else(|| v.user_id.clone()))
            .collect();
        Ok(match policy.mode {
            ApprovalMode::Any => !approvers.is_empty(),
            ApprovalMode::NOfM => approvers.len() as u32 >= policy.n.unwrap_or(1),
            ApprovalMode::All => {
                let users_ok = policy.users.iter().all(|u| approvers.contains(u));
                let mut roles_ok = true;
                for r in &policy.roles {
                    let mut any = false;
                    for who in &approvers {
                        if directory::roles_of(conn, &a.app_id, who)
                            .await?
                            .iter()
                            .any(|x| x == r.as_str())
                        {
                            any = true;
                            break;
                        }
                    }
                    roles_ok &= any;
                }
                users_ok && roles_ok
            }
        })
    }
}
