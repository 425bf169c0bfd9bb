//! The timer sweep: due timers (stage SLAs, rules' relative times, cron ticks) fired, each in
//! exactly one transaction however many nodes sweep.

use chrono::{DateTime, Utc};
use trellis_core::Error;
use trellis_core::status::TimerKind;
use trellis_store::{StoreError, timers};

use crate::Engine;

impl Engine {
    /// Fires the timers that are due: an SLA timer marks its record overdue
    /// ([`crate::pipelines`]), a rule's or cron timer becomes an event for the dispatcher. Returns
    /// how many fired.
    /// Safe to run on several nodes at once: each timer fires in exactly one transaction.
    pub async fn sweep_timers(&self, now: DateTime<Utc>) -> Result<usize, Error> {
        // The read pool answers "anything due?" through the partial index without taking the
        // SQLite writer.
        if timers::due(&self.db.read, now, 1).await?.is_empty() {
            return Ok(0);
        }
        let mut fired = 0;
        loop {
            let tx = self.db.begin_write().await.map_err(StoreError::from)?;
            let due = timers::due(&tx, now, 200).await?;
            let n = due.len();
            for t in due {
                if !timers::mark_fired(&tx, &t.id, now).await? {
                    continue;
                }
                fired += 1;
                let done = match TimerKind::parse(&t.kind) {
                    Some(TimerKind::Sla) => self.breach(&tx, &t, now).await,
                    Some(TimerKind::Rule | TimerKind::Cron) => {
                        let app = self.app_by_id(&tx, &t.app_id).await?;
                        super::schedule::fire(&tx, &t, app.as_ref().map(|a| &a.def), now).await
                    }
                    None => Ok(()),
                };
                if let Err(e) = done {
                    tracing::error!(timer = %t.id, error = %e.detail, "timer could not be processed");
                }
            }
            tx.commit().await.map_err(StoreError::from)?;
            self.wake_dispatcher();
            if n < 200 {
                return Ok(fired);
            }
        }
    }
}
