//! Wake-ups of this node's loops: the dispatcher when events were committed, the workers when
//! jobs were queued, and the stop that ends them. Any use case that commits events wakes the
//! dispatcher through here, without knowing automation.

use crate::Engine;

/// Wake-ups of the automation loops: the dispatcher when events were committed, the workers
/// when jobs were queued. Each loop also polls, so a missed wake-up only delays, and other
/// nodes' work is found too.
#[derive(Debug)]
pub struct Wake {
    pub events: tokio::sync::Notify,
    pub jobs: tokio::sync::Notify,
    /// Imports were queued.
    pub imports: tokio::sync::Notify,
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
            imports: tokio::sync::Notify::new(),
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
        self.wake.imports.notify_waiters();
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
    /// Waits until imports may be queued (or `max` passed).
    pub async fn imports_or(&self, max: std::time::Duration) {
        let _ = tokio::time::timeout(max, self.wake.imports.notified()).await;
    }
    /// Waits until jobs may be due (or `max` passed).
    pub async fn jobs_or(&self, max: std::time::Duration) {
        let _ = tokio::time::timeout(max, self.wake.jobs.notified()).await;
    }
}
