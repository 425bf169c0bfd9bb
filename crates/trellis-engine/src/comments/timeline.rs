//! A record's timeline: its history (field changes, stage moves, approvals, SLA breaches, manual
//! runs), the runs of the rules its changes started, and its comments, as one list oldest first.
//! A field hidden from the reader is veiled as reads veil it: its change is left out, neither
//! named nor valued, and the entry says that something it may not see changed; the runs of a
//! rule that reads a hidden field are left out, as that rule's runs are.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{Map, Value};
use trellis_core::error::FieldCode;
use trellis_core::status::{ApprovalStatus, EventKind, RunStatus, VoteDecision};
use trellis_core::{CompiledEntity, Error};
use trellis_store::comments;
use trellis_store::events::{self, EventRow};
use trellis_store::jobs::{self, RunRow};
use utoipa::ToSchema;

use super::{Comment, comment_of, people};
use crate::Engine;
use crate::context::TenantCtx;

/// Entries answered when the client names no limit.
pub const DEFAULT_LIMIT: u64 = 100;
/// Most entries answered at once.
pub const MAX_LIMIT: u64 = 1000;

/// One field's change.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TimelineFieldChange {
    /// The field's current name (or a system field: `owner`).
    pub field: String,
    /// The value before, as the record API answers it.
    pub from: Value,
    /// The value after.
    pub to: Value,
}

/// One entry of a record's timeline, by `type`. Every entry has `id` (the event's, the run's:
/// ascending id is the timeline's order), `at`, and the `actor` and `via` of what happened
/// (none for the system).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TimelineEntry {
    /// The record was created.
    Created {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
    },
    /// Field values changed (from → to). `veiled`: fields hidden from the caller changed too,
    /// left out here unnamed.
    FieldsChanged {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        changes: Vec<TimelineFieldChange>,
        veiled: bool,
    },
    /// The record moved from stage `from` to `to` after `seconds_in_stage` in `from`.
    StageMoved {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        from: String,
        to: String,
        #[schema(required = true)]
        seconds_in_stage: Option<i64>,
        /// The mover's comment.
        #[schema(required = true)]
        comment: Option<String>,
        /// The approval that let it move.
        #[schema(required = true)]
        approval: Option<String>,
    },
    /// A move waits for an approval.
    ApprovalRequested {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        approval: String,
        from: String,
        to: String,
        #[schema(required = true)]
        comment: Option<String>,
    },
    /// One approver voted (`actor`, for `on_behalf_of` when delegated).
    ApprovalVoted {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        approval: String,
        decision: VoteDecision,
        #[schema(required = true)]
        on_behalf_of: Option<String>,
        #[schema(required = true)]
        comment: Option<String>,
    },
    /// An approval was decided: `approved` (the record moved) or `rejected` (with `reason`).
    ApprovalDecided {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        approval: String,
        status: ApprovalStatus,
        from: String,
        to: String,
        #[schema(required = true)]
        reason: Option<String>,
    },
    /// The record overstayed `stage` past its SLA.
    SlaBreached {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        stage: String,
        #[schema(required = true, format = DateTime)]
        due_at: Option<String>,
    },
    /// A user ran manual rule `rule` on the record.
    ManualRun {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        rule: String,
    },
    /// Rule `rule` matched a change of the record and ran (`at`: when it started); its own
    /// changes of the record are entries of their own, `via` `rule:{name}`.
    RuleRun {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        rule: String,
        status: RunStatus,
        #[schema(required = true, format = DateTime)]
        finished_at: Option<String>,
    },
    /// A comment (one deleted since is left out).
    Comment {
        id: String,
        #[schema(format = DateTime)]
        at: String,
        #[schema(required = true)]
        actor: Option<String>,
        #[schema(required = true)]
        via: Option<String>,
        comment: Comment,
    },
}

/// A page of a record's timeline, oldest first.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Timeline {
    /// The entries; a page may hold fewer than `limit` (what the caller may not see, and
    /// comments deleted since, are left out) while `next_cursor` still leads on.
    pub data: Vec<TimelineEntry>,
    /// The `cursor` of the next page; none on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// One thing that happened, before it becomes an entry.
enum Source {
    Event(EventRow),
    Run(RunRow),
}

impl Source {
    fn id(&self) -> &str {
        match self {
            Source::Event(e) => &e.id,
            Source::Run(r) => &r.id,
        }
    }
}

fn text(data: &Map<String, Value>, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_string)
}

/// The changes of an `updated` event as the reader may see them, and whether any was veiled.
fn field_changes(
    entity: &CompiledEntity,
    data: &Map<String, Value>,
    hidden: &HashSet<String>,
) -> (Vec<TimelineFieldChange>, bool) {
    let names: HashMap<&str, &str> = entity
        .def
        .fields
        .iter()
        .map(|f| (f.storage_id().as_str(), f.name.as_str()))
        .collect();
    let mut veiled = false;
    let mut out = Vec::new();
    let Some(Value::Object(changes)) = data.get("changes") else {
        return (out, veiled);
    };
    for (key, pair) in changes {
        let name = match names.get(key.as_str()) {
            Some(n) => *n,
            // A system field (`owner`), or a field deleted since (its changes went with it).
            None if entity.column(key).is_some_and(|c| c.system) => key.as_str(),
            None => continue,
        };
        if hidden.contains(key) || hidden.contains(name) {
            veiled = true;
            continue;
        }
        let (from, to) = match pair {
            Value::Array(p) if p.len() == 2 => (p[0].clone(), p[1].clone()),
            other => (Value::Null, other.clone()),
        };
        out.push(TimelineFieldChange {
            field: name.to_string(),
            from,
            to,
        });
    }
    (out, veiled)
}

impl Engine {
    /// A record's timeline, oldest first, for a caller who may read the record (404 as the
    /// record answers otherwise; a deleted record has none: its history stays at `/history`).
    #[tracing::instrument(level = "debug", skip_all, fields(app = %app, entity = %entity, id = %id))]
    pub async fn record_timeline(
        &self,
        ctx: &TenantCtx,
        app: &str,
        entity: &str,
        id: &str,
        cursor: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Timeline, Error> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Error::bad_field(
                "limit",
                FieldCode::Range,
                format!("must be 1 to {MAX_LIMIT}"),
            ));
        }
        let after = super::check_cursor(cursor)?;
        let r = self.readable(ctx, app, entity, id).await?;
        let (tenant, after) = (ctx.tenant_id(), after.as_deref());
        let mut sources: Vec<Source> = events::of_record(&self.db.read, tenant, &r.id, after, limit)
            .await?
            .into_iter()
            .filter(|e| e.entity_id == r.entity.def.storage_id().as_str())
            .map(Source::Event)
            .chain(
                jobs::runs_of_record(&self.db.read, tenant, &r.id, after, limit)
                    .await?
                    .into_iter()
                    .map(Source::Run),
            )
            .collect();
        sources.sort_by(|a, b| a.id().cmp(b.id()));
        sources.truncate(limit as usize);
        let next_cursor = if sources.len() as u64 == limit {
            sources.last().map(|s| s.id().to_string())
        } else {
            None
        };

        // The comments of the page as they are now (a deleted one is left out).
        let comment_ids: Vec<String> = sources
            .iter()
            .filter_map(|s| match s {
                Source::Event(e) if e.kind == EventKind::CommentCreated => serde_json::from_str::<Value>(&e.data)
                    .ok()
                    .and_then(|d| d["comment"].as_str().map(str::to_string)),
                _ => None,
            })
            .collect();
        let rows = comments::by_ids(&self.db.read, tenant, &comment_ids).await?;
        let users = people(&self.db.read, tenant, &rows).await?;
        let live: HashMap<&str, Comment> = rows
            .iter()
            .map(|c| (c.id.as_str(), comment_of(c, &users, ctx)))
            .collect();

        let mut hidden = r.access.hidden_ids();
        hidden.extend(r.access.grant.hidden.iter().cloned());
        // The runs of a rule whose trigger or condition reads a field hidden from the caller are
        // left out, as its runs answer 404 to them: whether it ran would tell of the value.
        let hidden_by_entity = self.hidden_fields(&self.db.read, ctx, &r.app).await?;
        let rule_known = |name: &str| {
            hidden_by_entity.is_empty() || crate::automation::runs::known_rule(&r.app, name, &hidden_by_entity).is_ok()
        };
        let mut data = Vec::with_capacity(sources.len());
        for s in sources {
            let e = match s {
                Source::Run(run) => {
                    let Some(status) = RunStatus::parse(&run.status).filter(|_| rule_known(&run.rule)) else {
                        continue;
                    };
                    data.push(TimelineEntry::RuleRun {
                        id: run.id,
                        at: trellis_core::value::format_datetime(&run.started_at),
                        actor: None,
                        via: Some(format!("rule:{}", run.rule)),
                        rule: run.rule,
                        status,
                        finished_at: run.finished_at.as_ref().map(trellis_core::value::format_datetime),
                    });
                    continue;
                }
                Source::Event(e) => e,
            };
            let d = match serde_json::from_str::<Value>(&e.data) {
                Ok(Value::Object(d)) => d,
                _ => Map::new(),
            };
            // A write of a rule left out of the caller's view says only that a rule made it.
            let via = match e.via.as_deref().and_then(|v| v.strip_prefix("rule:")) {
                Some(rule) if !rule_known(rule) => Some("rule".to_string()),
                _ => e.via.clone(),
            };
            let (id, at, actor) = (
                e.id.clone(),
                trellis_core::value::format_datetime(&e.at),
                e.actor.clone(),
            );
            let from = || text(&d, "from").unwrap_or_default();
            let to = || text(&d, "to").unwrap_or_default();
            let approval = || text(&d, "approval").unwrap_or_default();
            let entry = match EventKind::parse(&e.kind) {
                Some(EventKind::Created) => TimelineEntry::Created { id, at, actor, via },
                Some(EventKind::Updated) => {
                    let (changes, veiled) = field_changes(&r.entity, &d, &hidden);
                    TimelineEntry::FieldsChanged {
                        id,
                        at,
                        actor,
                        via,
                        changes,
                        veiled,
                    }
                }
                Some(EventKind::StageChanged) => TimelineEntry::StageMoved {
                    from: from(),
                    to: to(),
                    seconds_in_stage: d.get("seconds_in_stage").and_then(Value::as_i64),
                    comment: text(&d, "comment"),
                    approval: text(&d, "approval"),
                    id,
                    at,
                    actor,
                    via,
                },
                Some(EventKind::ApprovalRequested) => TimelineEntry::ApprovalRequested {
                    approval: approval(),
                    from: from(),
                    to: to(),
                    comment: text(&d, "comment"),
                    id,
                    at,
                    actor,
                    via,
                },
                Some(k @ (EventKind::ApprovalApprovedVote | EventKind::ApprovalRejectedVote)) => {
                    TimelineEntry::ApprovalVoted {
                        approval: approval(),
                        decision: if k == EventKind::ApprovalApprovedVote {
                            VoteDecision::Approve
                        } else {
                            VoteDecision::Reject
                        },
                        on_behalf_of: text(&d, "on_behalf_of"),
                        comment: text(&d, "comment"),
                        id,
                        at,
                        actor,
                        via,
                    }
                }
                Some(k @ (EventKind::ApprovalApproved | EventKind::ApprovalRejected)) => {
                    TimelineEntry::ApprovalDecided {
                        approval: approval(),
                        status: if k == EventKind::ApprovalApproved {
                            ApprovalStatus::Approved
                        } else {
                            ApprovalStatus::Rejected
                        },
                        from: from(),
                        to: to(),
                        reason: text(&d, "reason"),
                        id,
                        at,
                        actor,
                        via,
                    }
                }
                Some(EventKind::SlaBreached) => TimelineEntry::SlaBreached {
                    stage: text(&d, "stage").unwrap_or_default(),
                    due_at: text(&d, "due_at"),
                    id,
                    at,
                    actor,
                    via,
                },
                Some(EventKind::Manual) => TimelineEntry::ManualRun {
                    rule: text(&d, "rule").unwrap_or_default(),
                    id,
                    at,
                    actor,
                    via,
                },
                Some(EventKind::CommentCreated) => {
                    let Some(comment) = text(&d, "comment").and_then(|c| live.get(c.as_str()).cloned()) else {
                        continue;
                    };
                    TimelineEntry::Comment {
                        id,
                        at,
                        actor,
                        via,
                        comment,
                    }
                }
                // Deletions of comments, timers, webhooks and audit events are not the
                // record's story (the history has them).
                _ => continue,
            };
            data.push(entry);
        }
        Ok(Timeline { data, next_cursor })
    }
}
