//! Query-planner statistics after large writes. A table filled by a bulk request (or, later, an
//! import) has no or stale statistics, and both databases then choose an equality index and sort
//! thousands of rows instead of walking the sort index for one page. Refreshing them right after
//! such a write keeps lists fast without waiting for autovacuum or the periodic SQLite pass.
//!
//! The same statistics tell a list whether the caller's row scope is selective enough to read
//! its rows first (see [`reads_scope_first`]).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use trellis_store::Db;
use trellis_store::records::{self, OwnerStats};

/// Rows written by one request from which statistics are refreshed.
pub const LARGE_WRITE: usize = 100;
/// At most one refresh per table in this time.
const MIN_INTERVAL: Duration = Duration::from_secs(5);
/// How long the owner statistics of a table are reused. They change only when the table is
/// analysed (autovacuum on PostgreSQL); this node forgets them when it analyses the table.
const OWNER_STATS_TTL: Duration = Duration::from_secs(60);

type OwnerStatsCache = HashMap<String, (Instant, Option<Arc<OwnerStats>>)>;

/// Remembers when each table was last analysed by this node, and the owner statistics read.
#[derive(Default)]
pub struct StatsRefresher {
    last: Arc<Mutex<HashMap<String, Analysed>>>,
    owners: Arc<Mutex<OwnerStatsCache>>,
}

/// When a table was last analysed, and whether another pass is already waiting.
struct Analysed {
    at: Instant,
    pending: bool,
}

/// When to analyse `table` for a request at `now`: at once, after the rest of [`MIN_INTERVAL`]
/// since the last pass (which then counts as started), or not at all when a pass is already
/// waiting and will see this request's rows.
fn schedule(last: &mut HashMap<String, Analysed>, table: &str, now: Instant) -> Option<Duration> {
    match last.get_mut(table) {
        Some(a) if a.pending => None,
        Some(a) if now.duration_since(a.at) < MIN_INTERVAL => {
            a.pending = true;
            Some(MIN_INTERVAL - now.duration_since(a.at))
        }
        _ => {
            started(last, table, now);
            Some(Duration::ZERO)
        }
    }
}

/// Notes that a pass over `table` starts at `now` (and that none waits).
fn started(last: &mut HashMap<String, Analysed>, table: &str, now: Instant) {
    last.insert(
        table.to_string(),
        Analysed {
            at: now,
            pending: false,
        },
    );
}

impl StatsRefresher {
    /// Analyses the table in the background: now, or when [`MIN_INTERVAL`] has passed since
    /// this node last did. A request within that time is not dropped but waits for the pass
    /// that follows, which one pass serves for all that come meanwhile.
    pub fn refresh_soon(&self, db: &Db, table: &str) {
        let delay = schedule(&mut self.last.lock(), table, Instant::now());
        if let Some(delay) = delay {
            self.analyse(db, table, delay);
        }
    }

    /// Analyses the table in the background right away: after a schema change (a new index has
    /// no statistics at all, and SQLite's planner may pass it over without them).
    pub fn refresh_now(&self, db: &Db, table: &str) {
        started(&mut self.last.lock(), table, Instant::now());
        self.analyse(db, table, Duration::ZERO);
    }

    fn analyse(&self, db: &Db, table: &str, delay: Duration) {
        let (db, table, owners, last) = (db.clone(), table.to_string(), self.owners.clone(), self.last.clone());
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
                started(&mut last.lock(), &table, Instant::now());
            }
            match db.analyze_table(&table).await {
                Ok(()) => {
                    owners.lock().remove(&table);
                }
                Err(e) => tracing::warn!(error = %e, table, "could not refresh planner statistics"),
            }
        });
    }

    /// The owner statistics of an entity table (PostgreSQL, once analysed; `None` otherwise or
    /// when they cannot be read: the list then plans as it would without them).
    pub async fn owner_stats(&self, db: &Db, table: &str) -> Option<Arc<OwnerStats>> {
        if db.is_sqlite() {
            return None;
        }
        if let Some((at, s)) = self.owners.lock().get(table)
            && at.elapsed() < OWNER_STATS_TTL
        {
            return s.clone();
        }
        let stats = match records::owner_stats(&db.read, table).await {
            Ok(s) => s.map(Arc::new),
            Err(e) => {
                tracing::warn!(error = %e, table, "could not read owner statistics");
                None
            }
        };
        let mut cache = self.owners.lock();
        if cache.len() >= 10_000 {
            cache.clear();
        }
        cache.insert(table.to_string(), (Instant::now(), stats.clone()));
        stats
    }
}

/// Whether a list whose row scope keeps about `scope_rows` of `table_rows` rows reads the
/// scope's rows first and sorts them (`ListQuery::filter_first`), rather than walking the sort
/// index and testing every row against scope and filter until `page` rows (limit + offset) are
/// found.
///
/// Reading the scope first costs about `scope_rows` rows, whatever the filter; one index of
/// the scope (the owner's) finds them. The walk costs `page × table_rows / scope_rows` rows
/// when the filter keeps every row and the scope's rows are spread evenly over the sort order
/// — and more the fewer rows the filter keeps, up to the whole index range when the filter and
/// the scope are correlated and few rows or none match (a rep's filter on a status their team
/// never has: PostgreSQL, estimating the two independent, walks 100,000 rows for an empty
/// page). Its worst case is the table, the scope's is the scope.
///
/// So the scope is read first when that costs at most twice the walk's best case:
/// `scope_rows ≤ 2 × page × table_rows / scope_rows`. Any filter that keeps half the scope's
/// rows or fewer then makes reading first the cheaper on average, and it never reads more
/// than the scope. A large scope (half the users' rows, or a scope of millions in a large
/// table) keeps the walk, which stops early when matches are common; only there can a
/// correlated filter still make a page slow.
pub fn reads_scope_first(scope_rows: f64, table_rows: f64, page: u64) -> bool {
    scope_rows * scope_rows <= 2.0 * page as f64 * table_rows
}

impl crate::Engine {
    /// Whether a list of `table` with a row scope of these owners reads the scope first: on
    /// PostgreSQL, by its statistics (SQLite, whose planner tries the owner index itself, and
    /// a table not yet analysed keep the usual plan).
    pub(crate) async fn reads_scope_first(&self, table: &str, owners: &[String], page: u64) -> bool {
        let Some(stats) = self.stats.owner_stats(&self.db, table).await else {
            return false;
        };
        reads_scope_first(stats.rows_owned_by(owners.iter().map(String::as_str)), stats.rows, page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_within_the_pause_waits_for_its_end_and_one_pass_serves_all_that_wait() {
        let mut last = HashMap::new();
        let t0 = Instant::now();
        assert_eq!(schedule(&mut last, "t", t0), Some(Duration::ZERO));
        assert_eq!(schedule(&mut last, "u", t0), Some(Duration::ZERO), "tables apart");
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(schedule(&mut last, "t", t1), Some(Duration::from_secs(3)));
        assert_eq!(
            schedule(&mut last, "t", t1 + Duration::from_secs(1)),
            None,
            "one is waiting"
        );
        // The waiting pass starts at t0 + 5 s, and the pause runs from there.
        started(&mut last, "t", t0 + MIN_INTERVAL);
        assert_eq!(
            schedule(&mut last, "t", t0 + Duration::from_secs(6)),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            schedule(&mut last, "u", t0 + Duration::from_secs(6)),
            Some(Duration::ZERO)
        );
    }

    fn stats() -> OwnerStats {
        // 100,000 rows; 100 owners; one owns a tenth, the other 99 share the rest evenly.
        OwnerStats {
            rows: 100_000.0,
            null_frac: 0.0,
            distinct: 100.0,
            common: [("big".to_string(), 0.1)].into(),
        }
    }

    #[test]
    fn owner_estimates_count_common_owners_and_share_the_rest() {
        let s = stats();
        let near = |a: f64, b: f64| (a - b).abs() < 1e-6 * b.max(1.0);
        assert!(near(s.rows_owned_by(["big"]), 10_000.0));
        assert!(near(s.rows_owned_by(["a", "b"]), 2.0 * 90_000.0 / 99.0));
        assert!(
            near(s.rows_owned_by(["a", "a"]), 90_000.0 / 99.0),
            "an owner counts once"
        );
        let all: Vec<String> = (0..200).map(|i| format!("u{i}")).collect();
        assert!(
            near(s.rows_owned_by(all.iter().map(String::as_str)), 100_000.0),
            "never more than the table"
        );
    }

    #[test]
    fn a_few_owners_read_first_and_a_large_scope_walks() {
        let s = stats();
        let page = 51;
        // A team of 2 of 100 users (~1,800 rows) and one user (~900): read first.
        assert!(reads_scope_first(s.rows_owned_by(["a", "b"]), s.rows, page));
        assert!(reads_scope_first(s.rows_owned_by(["a"]), s.rows, page));
        // The owner of a tenth of the rows, or half of the users: the walk.
        assert!(!reads_scope_first(s.rows_owned_by(["big"]), s.rows, page));
        let half: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
        assert!(!reads_scope_first(
            s.rows_owned_by(half.iter().map(String::as_str)),
            s.rows,
            page
        ));
        // A deep offset lengthens the walk: a larger scope is read first.
        assert!(reads_scope_first(s.rows_owned_by(["big"]), s.rows, 2_000));
        // 2% of ten million rows is too many to read for every page.
        assert!(!reads_scope_first(200_000.0, 10_000_000.0, page));
    }
}
