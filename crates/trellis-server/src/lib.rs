//! Starting a Trellis node: connect, migrate, bootstrap the first tenant, serve, and run the
//! node's housekeeping. The binary's CLI and the black-box tests both start nodes through here.

pub mod config;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tokio_cron_scheduler::{Job, JobScheduler};
use trellis_engine::Engine;
use trellis_engine::access::admin::Bootstrapped;

/// Where the database is: an explicit URL, or an SQLite file in the data directory.
pub fn database_url(data_dir: &Path, database_url: Option<&str>) -> String {
    match database_url.filter(|u| !u.is_empty()) {
        Some(u) => u.to_string(),
        None => format!("sqlite://{}", data_dir.join("trellis.db").display()),
    }
}

/// How to run a node.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub workers: usize,
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// Largest file upload, in bytes.
    pub max_file_bytes: u64,
    /// Whether webhooks and SMS may call addresses that are not public.
    pub allow_private_outbound: bool,
    /// How long login sessions last (idle and at most).
    pub sessions: trellis_engine::access::auth::SessionLifetime,
    /// How long the node keeps the teams and roles it read (the longest another node's change
    /// to them takes to show here).
    pub cache_ttl: Duration,
    /// Install the shipped templates into the first tenant when the database was fresh.
    pub demo: bool,
}

/// A running node.
pub struct Running {
    pub addr: SocketAddr,
    pub engine: Engine,
    pub bootstrapped: Option<Bootstrapped>,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    housekeeping: tokio::task::JoinHandle<()>,
    timers: JobScheduler,
    automation: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Waits until the server stops (Ctrl-C or SIGTERM stop it gracefully).
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let r = self.server.await.context("server task failed")?;
        self.housekeeping.abort();
        let _ = self.timers.shutdown().await;
        self.engine.stop_automation();
        for t in self.automation {
            if tokio::time::timeout(Duration::from_secs(10), t).await.is_err() {
                tracing::warn!("an automation loop did not end in time");
            }
        }
        self.engine.drain_jobs(Duration::from_secs(10)).await;
        r.context("server failed")
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        self.handle.stop(true).await;
        self.housekeeping.abort();
        let _ = self.timers.shutdown().await;
        self.engine.stop_automation();
        for t in self.automation {
            if tokio::time::timeout(Duration::from_secs(10), t).await.is_err() {
                tracing::warn!("an automation loop did not end in time");
            }
        }
        self.engine.drain_jobs(Duration::from_secs(10)).await;
        let _ = self.server.await;
        self.engine.db.clone().close().await;
    }
}

/// Opens the database (creating and migrating it as needed).
pub async fn open(database_url: &str) -> anyhow::Result<Engine> {
    Engine::open(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.detail))
}

/// Starts a node: migrate, bootstrap on an empty database, bind, serve.
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&settings.data_dir)
        .with_context(|| format!("cannot create data directory {}", settings.data_dir.display()))?;
    let engine = open(&settings.database_url)
        .await?
        .with_files_dir(settings.data_dir.join("files"))
        .with_max_file_bytes(settings.max_file_bytes)
        .with_private_outbound(settings.allow_private_outbound)
        .with_session_lifetime(settings.sessions)
        .with_cache_ttl(settings.cache_ttl);
    let bootstrapped = engine
        .bootstrap(settings.admin_email.as_deref(), settings.admin_password.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("bootstrap: {}", e.detail))?;
    if settings.demo
        && let Some(b) = &bootstrapped
    {
        let admin = engine
            .cli_caller(&b.tenant, Some(&b.email))
            .await
            .map_err(|e| anyhow::anyhow!("demo: {}", e.detail))?;
        for out in engine
            .install_demo(&admin)
            .await
            .map_err(|e| anyhow::anyhow!("demo: {}", e.detail))?
        {
            tracing::info!(app = %out.app, package = %out.package, version = %out.version, "installed a template");
        }
    }
    let listener = TcpListener::bind(&settings.bind).with_context(|| format!("cannot listen on {}", settings.bind))?;
    let addr = listener.local_addr()?;
    let server = trellis_api::serve(engine.clone(), listener, settings.workers.max(1))?;
    let handle = server.handle();
    let server = tokio::spawn(server);
    let housekeeping = tokio::spawn(housekeeping(engine.clone()));
    let timers = timer_ticks(engine.clone()).await?;
    let automation = vec![
        tokio::spawn(dispatch_events(engine.clone())),
        tokio::spawn(run_jobs(engine.clone())),
        tokio::spawn(run_imports(engine.clone())),
    ];
    Ok(Running {
        addr,
        engine,
        bootstrapped,
        handle,
        server,
        housekeeping,
        timers,
        automation,
    })
}

/// Matches committed events against the automation rules: woken by this node's commits, and
/// polling for other nodes' (an idle poll is one indexed read).
async fn dispatch_events(engine: Engine) {
    while !engine.is_stopping() {
        match engine.dispatch_events().await {
            Ok(n) if n as u64 == trellis_engine::automation::dispatch::BATCH => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e.detail, "event dispatch failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        engine.events_or(Duration::from_millis(250)).await;
    }
}

/// Runs due automation jobs: woken when jobs are queued, polling for retries and other nodes.
async fn run_jobs(engine: Engine) {
    while !engine.is_stopping() {
        match engine.run_due_jobs().await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e.detail, "job run failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        engine.jobs_or(Duration::from_millis(250)).await;
    }
}

/// Runs queued imports (and those whose node died mid-way, once their lease lapses): woken when
/// an import is queued, polling for the others.
async fn run_imports(engine: Engine) {
    while !engine.is_stopping() {
        if let Err(e) = engine.run_imports().await {
            tracing::warn!(error = %e.detail, "import run failed");
            tokio::time::sleep(Duration::from_millis(1000)).await;
        }
        engine.imports_or(Duration::from_secs(2)).await;
    }
}

/// The tick of durable timers (SLA breaches, reminders, cron rules): tokio-cron-scheduler
/// runs a sweep every second on every node; the database decides who fires each timer (a
/// conditional update, and a unique (rule, fire time) row for cron ticks), so N nodes fire it
/// once. A sweep with nothing due is one indexed read; one still running skips the next tick.
async fn timer_ticks(engine: Engine) -> anyhow::Result<JobScheduler> {
    let sched = JobScheduler::new().await.context("timer scheduler")?;
    let busy = Arc::new(AtomicBool::new(false));
    let job = Job::new_async("* * * * * *", move |_id, _sched| {
        let (engine, busy) = (engine.clone(), busy.clone());
        Box::pin(async move {
            if busy.swap(true, Ordering::SeqCst) {
                return;
            }
            match engine.sweep_timers(trellis_core::value::now_micros()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(fired = n, "timers fired"),
                Err(e) => tracing::warn!(error = %e.detail, "timer sweep failed"),
            }
            busy.store(false, Ordering::SeqCst);
        })
    })
    .context("timer tick")?;
    sched.add(job).await.context("timer tick")?;
    sched.start().await.context("timer scheduler start")?;
    Ok(sched)
}

/// Periodic work of a node: notice app versions written by other nodes, keep SQLite's planner
/// statistics current, checkpoint the SQLite WAL.
async fn housekeeping(engine: Engine) {
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        n += 1;
        if let Err(e) = engine.sync_registry().await {
            tracing::warn!(error = %e.detail, "registry sync failed");
        }
        if n.is_multiple_of(5)
            && let Err(e) = engine.db.optimize().await
        {
            tracing::warn!(error = %e, "optimize failed");
        }
        // Audit retention: every 10 minutes, events past each tenant's retention.
        if n.is_multiple_of(300)
            && let Err(e) = engine.purge_events(trellis_core::value::now_micros()).await
        {
            tracing::warn!(error = %e.detail, "event retention failed");
        }
        if n.is_multiple_of(30)
            && let Err(e) = engine.db.checkpoint().await
        {
            tracing::warn!(error = %e, "checkpoint failed");
        }
    }
}
