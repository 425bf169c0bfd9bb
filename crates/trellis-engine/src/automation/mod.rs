//! Automation: committed events (the outbox, `sys_events`) are matched against the app's rules by
//! the dispatcher, which records a run and one durable job per action in the same transaction as
//! it marks the event dispatched. Workers claim due jobs, run them, and record the outcome:
//! done, retried with exponential backoff and jitter, or dead after the rule's `max_attempts`.
//! Actions that stay in the database commit with their job's completion, so they happen once;
//! actions that reach the world (e-mail, SMS, webhooks) are at least once, carrying the job's
//! idempotency key.

pub mod actions;
pub mod dispatch;
pub mod inbound;
pub mod runs;
pub mod schedule;
pub mod template;
pub mod test;
pub mod timers;
pub mod worker;

use serde_json::Value;
use trellis_core::automation::RuleDef;

use crate::Engine;
use crate::compiled::scripts::LoadedApp;
// The parts of automation's use cases, shared among this folder's modules.
use self::{runs::*, test::*};

/// What an action runs with.
pub struct ActionCtx<'a> {
    pub engine: &'a Engine,
    pub tenant_id: &'a str,
    pub app: &'a LoadedApp,
    pub rule: &'a RuleDef,
    pub job_id: &'a str,
    /// Stable across retries of the same action for the same event.
    pub idempotency_key: &'a str,
    /// 1 on the first try.
    pub attempt: i32,
    /// `{event, entity, record, old, payload, rule}`: `record` is the trigger record as answered
    /// by the API (null when there is none), `old` its values before an update, `payload` the
    /// body of an inbound webhook.
    pub input: &'a Value,
    /// What earlier attempts of this job completed, as their failure reported it
    /// ([`ActionError::progress`]); `None` on the first attempt.
    pub progress: Option<&'a Value>,
}

/// Why an action failed; `retry` false sends it straight to the dead letters (e.g. a template
/// names no recipient, or a 4xx answer other than 408/429).
#[derive(Debug, Clone)]
pub struct ActionError {
    pub message: String,
    pub retry: bool,
    /// What the action completed before it failed (e.g. the recipients a message reached). It
    /// is kept as the job's output and handed to the next attempt as [`ActionCtx::progress`],
    /// so a retry does not repeat it.
    pub progress: Option<Value>,
}

impl ActionError {
    pub fn retry(message: impl Into<String>) -> ActionError {
        ActionError {
            message: message.into(),
            retry: true,
            progress: None,
        }
    }
    pub fn fatal(message: impl Into<String>) -> ActionError {
        ActionError {
            message: message.into(),
            retry: false,
            progress: None,
        }
    }
    /// The same failure, after `progress` was completed.
    pub fn with_progress(mut self, progress: Value) -> ActionError {
        self.progress = Some(progress);
        self
    }
}

impl From<trellis_core::Error> for ActionError {
    fn from(e: trellis_core::Error) -> Self {
        // Database trouble is worth retrying; a user's mistake in the rule is not.
        let retry = e.code == trellis_core::ErrorCode::Internal;
        let detail = if e.errors.is_empty() {
            e.detail
        } else {
            format!(
                "{}: {}",
                e.detail,
                e.errors
                    .iter()
                    .map(|f| format!("{} {}", f.field, f.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        };
        ActionError {
            message: detail,
            retry,
            progress: None,
        }
    }
}
