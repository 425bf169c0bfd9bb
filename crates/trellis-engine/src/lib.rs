//! Trellis's use cases: tenants and login, the tenant directory and inbox, the builder's metadata
//! changes, and the record write path. The API crate calls these; none of them knows about HTTP.

pub mod access;
pub mod apps;
pub mod audit;
pub mod automation;
pub mod comments;
pub mod compiled;
pub mod context;
pub mod directory;
pub mod events;
pub mod files;
pub mod imports;
pub mod notifications;
pub mod pipelines;
pub mod preferences;
pub mod records;
pub mod reports;
pub mod settings;
pub mod wake;
pub mod zone;

#[cfg(test)]
mod layers;
#[cfg(test)]
mod sql_free;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use context::TenantCtx;
use trellis_core::Error;
use trellis_store::{Db, system};

/// The engine of one node: database handles and every cache of the node (compiled apps, tokens,
/// grants, teams and roles), so two engines in one process share only the database.
#[derive(Clone)]
pub struct Engine {
    pub db: Db,
    pub(crate) registry: Arc<compiled::registry::Registry>,
    /// What concepts above records add to a record's writes (pipelines: stage entry).
    pub(crate) hooks: Arc<records::hooks::Hooks>,
    auth_cache: Arc<access::auth::AuthCache>,
    /// Grants, teams and roles as this node last read them (its own: nothing is shared
    /// between engines but the database).
    caches: Arc<access::Caches>,
    stats: Arc<records::stats::StatsRefresher>,
    /// The one script engine, built once.
    pub rules: Arc<trellis_rules::RuleEngine>,
    /// Where uploaded files are kept (`<data_dir>/files` on a served node).
    files_dir: PathBuf,
    /// Largest upload accepted.
    max_file_bytes: u64,
    /// Wakes this node's automation loops when work was committed.
    pub(crate) wake: Arc<wake::Wake>,
    /// Whether webhooks and SMS may call private, loopback and link-local addresses.
    allow_private_outbound: bool,
    /// How long login sessions last.
    sessions: access::auth::SessionLifetime,
}

impl Engine {
    /// Connects, brings the system tables up to date and returns a ready engine.
    pub async fn open(database_url: &str) -> Result<Engine, Error> {
        let db = Db::connect(database_url)
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        trellis_store::migrate::migrate(&db)
            .await
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(Engine {
            db,
            registry: Arc::default(),
            hooks: Arc::new(records::hooks::Hooks {
                on_create: vec![Arc::new(pipelines::StageEntry)],
            }),
            auth_cache: Arc::default(),
            caches: Arc::default(),
            stats: Arc::default(),
            rules: Arc::new(trellis_rules::RuleEngine::new()),
            // Only for engines that never store files (the admin CLI); a node sets its own.
            files_dir: std::env::temp_dir().join("trellis-files"),
            max_file_bytes: files::DEFAULT_MAX_FILE_BYTES,
            wake: Arc::default(),
            allow_private_outbound: false,
            sessions: access::auth::SessionLifetime::default(),
        })
    }

    /// The same engine keeping uploaded files in `dir`.
    pub fn with_files_dir(mut self, dir: PathBuf) -> Engine {
        self.files_dir = dir;
        self
    }

    /// The same engine letting webhooks and SMS call addresses that are not public
    /// (`automation::actions::outbound`).
    pub fn with_private_outbound(mut self, allow: bool) -> Engine {
        self.allow_private_outbound = allow;
        self
    }

    /// The same engine with login sessions lasting `lifetime`.
    pub fn with_session_lifetime(mut self, lifetime: access::auth::SessionLifetime) -> Engine {
        self.sessions = lifetime;
        self
    }

    /// The same engine keeping the teams and roles it reads for `ttl` (the longest another
    /// node's change to them takes to show here; [`access::DEFAULT_CACHE_TTL`] unless set).
    pub fn with_cache_ttl(mut self, ttl: std::time::Duration) -> Engine {
        self.caches = Arc::new(access::Caches::new(ttl));
        self
    }

    /// Whether webhooks and SMS may call addresses that are not public.
    pub fn allows_private_outbound(&self) -> bool {
        self.allow_private_outbound
    }

    /// The same engine accepting uploads of at most `bytes`.
    pub fn with_max_file_bytes(mut self, bytes: u64) -> Engine {
        self.max_file_bytes = bytes;
        self
    }

    /// Where uploaded files are kept.
    pub fn files_dir(&self) -> &std::path::Path {
        &self.files_dir
    }

    /// Drops compiled apps whose version changed in the database (written by another node).
    pub async fn sync_registry(&self) -> Result<(), Error> {
        let current: HashMap<(String, String), i64> = system::app_versions(&self.db.read)
            .await?
            .into_iter()
            .map(|(t, n, v)| ((t, n), v))
            .collect();
        self.registry.retain_current(&current);
        Ok(())
    }
}
