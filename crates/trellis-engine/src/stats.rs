//! Query-planner statistics after large writes. A table filled by a bulk request (or, later, an
//! import) has no or stale statistics, and both databases then choose an equality index and sort
//! thousands of rows instead of walking the sort index for one page. Refreshing them right after
//! such a write keeps lists fast without waiting for autovacuum or the periodic SQLite pass.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use trellis_store::Db;

/// Rows written by one request from which statistics are refreshed.
pub const LARGE_WRITE: usize = 100;
/// At most one refresh per table in this time.
const MIN_INTERVAL: Duration = Duration::from_secs(5);

/// Remembers when each table was last analysed by this node.
#[derive(Default)]
pub struct StatsRefresher {
    last: Mutex<HashMap<String, Instant>>,
}

impl StatsRefresher {
    /// Analyses the table in the background, unless this node did so a moment ago.
    pub fn refresh_soon(&self, db: &Db, table: &str) {
        {
            let mut last = self.last.lock();
            if last.get(table).is_some_and(|t| t.elapsed() < MIN_INTERVAL) {
                return;
            }
            last.insert(table.to_string(), Instant::now());
        }
        let (db, table) = (db.clone(), table.to_string());
        tokio::spawn(async move {
            if let Err(e) = db.analyze_table(&table).await {
                tracing::warn!(error = %e, table, "could not refresh planner statistics");
            }
        });
    }
}
