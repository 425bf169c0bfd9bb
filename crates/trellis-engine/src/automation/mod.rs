//! Automation: committed events (the outbox, `sys_events`) are matched against the app's rules by
//! the dispatcher, which records a run and one durable job per action in the same transaction as
//! it marks the event dispatched. Workers claim due jobs, run them, and record the outcome:
//! done, retried with exponential backoff and jitter, or dead after the rule's `max_attempts`.
//! Actions that stay in the database commit with their job's completion, so they happen once;
//! actions that reach the world (e-mail, SMS, webhooks) are at least once, carrying the job's
//! idempotency key.

pub mod actions;
pub mod api;
pub mod dispatch;
pub mod schedule;
pub mod template;
pub mod worker;

use serde_json::Value;
use trellis_core::automation::RuleDef;

use crate::Engine;
use crate::compiled::scripts::LoadedApp;

/// Wake-ups of the automation loops: the dispatcher when events were committed, the workers
/// when jobs were queued. Each loop also polls, so a missed wake-up only delays, and other
/// nodes' work is found too.
#[derive(Debug)]
pub struct Wake {
    pub events: tokio::sync::Notify,
    pub jobs: tokio::sync::Notify,
    /// Jobs running at once on this node; each holds a slot until it is recorded.
    pub slots: std::sync::Arc<tokio::sync::Semaphore>,
    /// Set when the node stops: the loops finish their round and end.
    pub stopping: std::sync::atomic::AtomicBool,
    /// Tenants over their runs-per-minute limit, until when their events wait.
    pub throttled: parking_lot::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// Most jobs one node runs at once.
pub const MAX_RUNNING_JOBS: usize = 32;

impl Default for Wake {
    fn default() -> Self {
        Wake {
            events: tokio::sync::Notify::new(),
            jobs: tokio::sync::Notify::new(),
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_RUNNING_JOBS)),
            stopping: std::sync::atomic::AtomicBool::new(false),
            throttled: parking_lot::Mutex::default(),
        }
    }
}

impl Engine {
    /// Tells the dispatcher that events were committed.
    pub fn wake_dispatcher(&self) {
        self.wake.events.notify_one();
    }
    /// Tells the dispatcher that this app's events were committed, when it has rules (the
    /// events of an app without rules are written already dispatched: nothing to wake for).
    pub fn wake_dispatcher_for(&self, app: &crate::compiled::scripts::LoadedApp) {
        if app.def.rules.iter().any(|r| r.enabled) {
            self.wake_dispatcher();
        }
    }
    /// Tells the workers that jobs were queued.
    pub fn wake_workers(&self) {
        self.wake.jobs.notify_one();
    }
    /// Asks the automation loops to end after their current round (a graceful stop: a round
    /// cut in half could leave jobs taken but never run until their lease ends).
    pub fn stop_automation(&self) {
        self.wake.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
        self.wake.events.notify_waiters();
        self.wake.jobs.notify_waiters();
    }
    /// Whether the node is stopping.
    pub fn is_stopping(&self) -> bool {
        self.wake.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Waits (at most `max`) for the jobs this node is running to be recorded: a graceful stop
    /// leaves no job to wait out its lease.
    pub async fn drain_jobs(&self, max: std::time::Duration) {
        let all = MAX_RUNNING_JOBS as u32;
        if let Ok(Ok(permits)) = tokio::time::timeout(max, self.wake.slots.acquire_many(all)).await {
            drop(permits);
        }
    }
    /// Waits until events may be pending (or `max` passed).
    pub async fn events_or(&self, max: std::time::Duration) {
        let _ = tokio::time::timeout(max, self.wake.events.notified()).await;
    }
    /// Waits until jobs may be due (or `max` passed).
    pub async fn jobs_or(&self, max: std::time::Duration) {
        let _ = tokio::time::timeout(max, self.wake.jobs.notified()).await;
    }
}

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
