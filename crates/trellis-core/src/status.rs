//! The statuses and kinds the engine stores and answers, each an enum in one place: the words
//! stored in system tables are these enums' `as_str`, and the OpenAPI documents list them.

use serde::{Deserialize, Serialize};

/// Declares a snake_case enum with its stored word, parsing and display.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored and answered.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// The value a stored word names; `None` for a word it does not know.
            pub fn parse(word: &str) -> Option<Self> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// A stored word (a `String` column) compared with the value it should name.
        impl PartialEq<$name> for str {
            fn eq(&self, other: &$name) -> bool {
                self == other.as_str()
            }
        }

        impl PartialEq<$name> for String {
            fn eq(&self, other: &$name) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_string()
            }
        }
    };
}

pub(crate) use vocabulary;

vocabulary! {
    /// Where an approval stands.
    ApprovalStatus {
        /// Waiting for votes.
        Pending => "pending",
        /// The policy was met: the record moved.
        Approved => "approved",
        /// An approver refused: the record stays.
        Rejected => "rejected",
    }
}

vocabulary! {
    /// One approver's decision.
    VoteDecision {
        Approve => "approve",
        Reject => "reject",
    }
}

vocabulary! {
    /// How a rule's run stands.
    RunStatus {
        /// Its actions are being done.
        Running => "running",
        /// Every action is done.
        Done => "done",
        /// An action is dead (out of attempts, or failed for good).
        Failed => "failed",
        /// The condition did not match.
        Skipped => "skipped",
        /// Rules started by rules went deeper than the limit: stopped.
        DepthLimit => "depth_limit",
        /// The condition failed to evaluate.
        Error => "error",
    }
}

vocabulary! {
    /// How a job (one action of a run) stands.
    JobStatus {
        /// An earlier action of the run is not done.
        Waiting => "waiting",
        Queued => "queued",
        Running => "running",
        /// Failed, and tried again at `next_run_at`.
        Retrying => "retrying",
        Done => "done",
        /// Out of attempts; `POST /jobs/{id}/retry` queues it again.
        Dead => "dead",
        /// Not done: the run stopped before it.
        Skipped => "skipped",
    }
}

vocabulary! {
    /// What an event (of a record's history, of the audit trail, or that starts rules) records.
    EventKind {
        /// A record was created.
        Created => "created",
        /// A record's values changed (`changes`).
        Updated => "updated",
        /// A record was deleted.
        Deleted => "deleted",
        /// A record moved from stage `from` to stage `to`.
        StageChanged => "stage_changed",
        /// A move waits for approval (`approval`, `from`, `to`).
        ApprovalRequested => "approval_requested",
        /// An approval's policy was met: the record moved.
        ApprovalApproved => "approval_approved",
        /// An approver refused: the record stays.
        ApprovalRejected => "approval_rejected",
        /// One approver approved; the policy waits for more.
        ApprovalApprovedVote => "approval_approved_vote",
        /// One approver refused (the approval is rejected with it).
        ApprovalRejectedVote => "approval_rejected_vote",
        /// A record stayed in a stage past its SLA (`stage`).
        SlaBreached => "sla_breached",
        /// A rule's timer fired (relative time, SLA due, cron): `rule`, `due_at`.
        Timer => "timer",
        /// A rule's inbound webhook was called: `rule`, `payload`.
        Webhook => "webhook",
        /// A user ran a manual rule on a record: `rule`.
        Manual => "manual",
        /// A comment was added to a record: `comment` (its id), `body`, `mentions` (user ids).
        CommentCreated => "comment_created",
        /// A comment of a record was deleted: `comment` (its id).
        CommentDeleted => "comment_deleted",
        /// A rule's test run (never stored).
        Test => "test",
        /// An app was created (audit).
        AppCreated => "app_created",
        /// An app's definition changed, with its plan (audit).
        AppChanged => "app_changed",
        /// An app was deleted (audit).
        AppDeleted => "app_deleted",
        /// A user was given a role (audit).
        RoleMemberAdded => "role_member_added",
        /// A user lost a role (audit).
        RoleMemberRemoved => "role_member_removed",
        /// An API token was created (audit).
        TokenCreated => "token_created",
        /// An API token was revoked (audit).
        TokenRevoked => "token_revoked",
    }
}

vocabulary! {
    /// What a durable timer is for.
    TimerKind {
        /// A stage's SLA: breached when it fires.
        Sla => "sla",
        /// A relative-time or SLA-due rule's fire on one record.
        Rule => "rule",
        /// A cron rule's next fire.
        Cron => "cron",
    }
}

vocabulary! {
    /// Where a durable timer stands.
    TimerStatus {
        /// Not fired yet.
        Pending => "pending",
        /// Fired once (by one node).
        Fired => "fired",
        /// No longer wanted (the record moved on or was deleted, the rule changed).
        Cancelled => "cancelled",
    }
}

vocabulary! {
    /// What an in-app notification is about (`kind` in the inbox).
    NotificationKind {
        /// A rule's `notify` action.
        Rule => "rule",
        /// A record overstayed its stage's SLA (to its owner and the escalation target).
        SlaBreached => "sla_breached",
        /// A move waits for the recipient's approval.
        ApprovalRequested => "approval_requested",
        /// A move the recipient requested was approved.
        ApprovalApproved => "approval_approved",
        /// A move the recipient requested was rejected.
        ApprovalRejected => "approval_rejected",
        /// Records were handed over to the recipient.
        Handover => "handover",
        /// The recipient was mentioned in a comment on a record they may read.
        Mention => "mention",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_words_are_the_serde_names_and_parse_back() {
        for s in ApprovalStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
            assert_eq!(ApprovalStatus::parse(s.as_str()), Some(*s));
        }
        for d in VoteDecision::ALL {
            assert_eq!(serde_json::to_value(d).unwrap(), serde_json::json!(d.as_str()));
            assert_eq!(VoteDecision::parse(d.as_str()), Some(*d));
        }
        for r in RunStatus::ALL {
            assert_eq!(serde_json::to_value(r).unwrap(), serde_json::json!(r.as_str()));
            assert_eq!(RunStatus::parse(r.as_str()), Some(*r));
        }
        for j in JobStatus::ALL {
            assert_eq!(serde_json::to_value(j).unwrap(), serde_json::json!(j.as_str()));
            assert_eq!(JobStatus::parse(j.as_str()), Some(*j));
        }
        for k in EventKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
            assert_eq!(EventKind::parse(k.as_str()), Some(*k));
        }
        for k in TimerKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
            assert_eq!(TimerKind::parse(k.as_str()), Some(*k));
        }
        for s in TimerStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
            assert_eq!(TimerStatus::parse(s.as_str()), Some(*s));
        }
        for k in NotificationKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.as_str()));
            assert_eq!(NotificationKind::parse(k.as_str()), Some(*k));
            assert_eq!(String::from(*k), k.as_str());
        }
        assert_eq!(ApprovalStatus::parse("Pending"), None);
        assert!(*"approval_approved_vote" == EventKind::ApprovalApprovedVote);
        let stored = String::from("cron");
        assert!(stored == TimerKind::Cron);
        assert!(stored != TimerKind::Rule);
    }
}
