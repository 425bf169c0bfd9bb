//! Automation bookkeeping: rule runs, their action jobs, and the outbox claim.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, OnConflict, Order, Query};
use sea_orm::{DbBackend, QueryResult};

use crate::error::StoreError;
use crate::events::EventRow;

fn a(s: &str) -> Alias {
    Alias::new(s)
}

/// One evaluation of a rule against a trigger.
#[derive(Debug, Clone)]
pub struct RunRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub rule: String,
    pub rule_version: i64,
    pub event_id: Option<String>,
    pub record_id: Option<String>,
    /// JSON: the trigger event as the rule saw it.
    pub trigger: String,
    pub matched: bool,
    /// `running`, `done`, `failed`, `skipped` (condition false), `depth_limit`, `error`.
    pub status: String,
    pub error: Option<String>,
    pub depth: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One action of a run, as a durable job.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub run_id: String,
    pub rule: String,
    pub action_index: i32,
    pub action: String,
    pub idempotency_key: String,
    /// `waiting` (an earlier action is not done), `queued`, `running`, `retrying`, `done`,
    /// `dead`, `skipped`.
    pub status: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub next_run_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// JSON input of the run (event, record, old, payload).
    pub input: String,
    pub output: Option<String>,
    pub duration_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const RUN_COLS: [&str; 14] = [
    "id",
    "tenant_id",
    "app_id",
    "rule",
    "rule_version",
    "event_id",
    "record_id",
    "trigger",
    "matched",
    "status",
    "error",
    "depth",
    "started_at",
    "finished_at",
];

const JOB_COLS: [&str; 19] = [
    "id",
    "tenant_id",
    "app_id",
    "run_id",
    "rule",
    "action_index",
    "action",
    "idempotency_key",
    "status",
    "attempts",
    "max_attempts",
    "next_run_at",
    "locked_until",
    "last_error",
    "input",
    "output",
    "duration_ms",
    "created_at",
    "updated_at",
];

fn run(r: &QueryResult) -> Result<RunRow, StoreError> {
    Ok(RunRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        app_id: r.try_get("", "app_id")?,
        rule: r.try_get("", "rule")?,
        rule_version: r.try_get("", "rule_version")?,
        event_id: r.try_get("", "event_id")?,
        record_id: r.try_get("", "record_id")?,
        trigger: r.try_get("", "trigger")?,
        matched: r.try_get("", "matched")?,
        status: r.try_get("", "status")?,
        error: r.try_get("", "error")?,
        depth: r.try_get("", "depth")?,
        started_at: r.try_get("", "started_at")?,
        finished_at: r.try_get("", "finished_at")?,
    })
}

fn job(r: &QueryResult) -> Result<JobRow, StoreError> {
    Ok(JobRow {
        id: r.try_get("", "id")?,
        tenant_id: r.try_get("", "tenant_id")?,
        app_id: r.try_get("", "app_id")?,
        run_id: r.try_get("", "run_id")?,
        rule: r.try_get("", "rule")?,
        action_index: r.try_get("", "action_index")?,
        action: r.try_get("", "action")?,
        idempotency_key: r.try_get("", "idempotency_key")?,
        status: r.try_get("", "status")?,
        attempts: r.try_get("", "attempts")?,
        max_attempts: r.try_get("", "max_attempts")?,
        next_run_at: r.try_get("", "next_run_at")?,
        locked_until: r.try_get("", "locked_until")?,
        last_error: r.try_get("", "last_error")?,
        input: r.try_get("", "input")?,
        output: r.try_get("", "output")?,
        duration_ms: r.try_get("", "duration_ms")?,
        created_at: r.try_get("", "created_at")?,
        updated_at: r.try_get("", "updated_at")?,
    })
}

fn lock_if_pg(q: &mut sea_orm::sea_query::SelectStatement, backend: DbBackend) {
    if backend == DbBackend::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
}

/// Undispatched events, oldest first; locked (skipping rows other nodes hold) on PostgreSQL.
/// Tenants in `skip` (over their rate limit) are left for later.
pub async fn claim_events<C: crate::Writes>(c: &C, limit: u64, skip: &[String]) -> Result<Vec<EventRow>, StoreError> {
    let mut q = Query::select();
    q.columns(crate::events::COLS.map(a))
        .from(a("sys_events"))
        .and_where(Expr::col(a("dispatched_at")).is_null())
        .order_by(a("at"), Order::Asc)
        .limit(limit);
    if !skip.is_empty() {
        q.and_where(Expr::col(a("tenant_id")).is_not_in(skip.iter().cloned()));
    }
    lock_if_pg(&mut q, c.get_database_backend());
    c.query_all(&q).await?.iter().map(crate::events::event).collect()
}

/// Marks events dispatched.
pub async fn mark_dispatched<C: crate::Writes>(c: &C, ids: &[String], at: DateTime<Utc>) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let q = Query::update()
        .table(a("sys_events"))
        .value(a("dispatched_at"), at)
        .and_where(Expr::col(a("id")).is_in(ids.iter().cloned()))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

pub async fn insert_run<C: crate::Writes>(c: &C, r: &RunRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(a("sys_rule_runs"))
        .columns(RUN_COLS.map(a))
        .values_panic([
            r.id.clone().into(),
            r.tenant_id.clone().into(),
            r.app_id.clone().into(),
            r.rule.clone().into(),
            r.rule_version.into(),
            r.event_id.clone().into(),
            r.record_id.clone().into(),
            r.trigger.clone().into(),
            r.matched.into(),
            r.status.clone().into(),
            r.error.clone().into(),
            r.depth.into(),
            r.started_at.into(),
            r.finished_at.into(),
        ])
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Inserts jobs; one whose idempotency key exists already is left out (a redelivered event).
pub async fn insert_jobs<C: crate::Writes>(c: &C, jobs: &[JobRow]) -> Result<(), StoreError> {
    if jobs.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert();
    q.into_table(a("sys_jobs")).columns(JOB_COLS.map(a));
    for j in jobs {
        q.values_panic([
            j.id.clone().into(),
            j.tenant_id.clone().into(),
            j.app_id.clone().into(),
            j.run_id.clone().into(),
            j.rule.clone().into(),
            j.action_index.into(),
            j.action.clone().into(),
            j.idempotency_key.clone().into(),
            j.status.clone().into(),
            j.attempts.into(),
            j.max_attempts.into(),
            j.next_run_at.into(),
            j.locked_until.into(),
            j.last_error.clone().into(),
            j.input.clone().into(),
            j.output.clone().into(),
            j.duration_ms.into(),
            j.created_at.into(),
            j.updated_at.into(),
        ]);
    }
    q.on_conflict(OnConflict::column(a("idempotency_key")).do_nothing().to_owned());
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Jobs ready to run: queued or retrying and due, or running with an expired lease (their
/// node died). Locked on PostgreSQL.
pub async fn due_jobs<C: crate::Writes>(c: &C, now: DateTime<Utc>, limit: u64) -> Result<Vec<JobRow>, StoreError> {
    let mut q = Query::select();
    q.columns(JOB_COLS.map(a))
        .from(a("sys_jobs"))
        .and_where(Expr::col(a("status")).is_in(["queued", "retrying"]))
        .and_where(Expr::col(a("next_run_at")).lte(now))
        .order_by(a("next_run_at"), Order::Asc)
        .limit(limit);
    lock_if_pg(&mut q, c.get_database_backend());
    let mut out: Vec<JobRow> = c.query_all(&q).await?.iter().map(job).collect::<Result<_, _>>()?;
    let mut q = Query::select();
    q.columns(JOB_COLS.map(a))
        .from(a("sys_jobs"))
        .and_where(Expr::col(a("status")).eq("running"))
        .and_where(Expr::col(a("locked_until")).lt(now))
        .limit(limit);
    lock_if_pg(&mut q, c.get_database_backend());
    for r in c.query_all(&q).await? {
        out.push(job(&r)?);
    }
    Ok(out)
}

/// Takes a job this transaction has locked (selected by [`due_jobs`] in it): status running,
/// one more attempt, a lease. The update cannot miss, so it goes with the transaction's next
/// statement.
pub async fn take_locked<C: crate::Writes>(
    c: &C,
    j: &JobRow,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::update()
        .table(a("sys_jobs"))
        .value(a("status"), "running")
        .value(a("attempts"), j.attempts + 1)
        .value(a("locked_until"), lease_until)
        .value(a("updated_at"), now)
        .and_where(Expr::col(a("id")).eq(j.id.clone()))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Marks a job this transaction took done, queues the run's next waiting job, and finishes the
/// run when none of its jobs is left to run; all with the transaction's next statement.
pub async fn done_locked<C: crate::Writes>(
    c: &C,
    j: &JobRow,
    output: &str,
    duration_ms: i64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let backend = c.get_database_backend();
    let q = Query::update()
        .table(a("sys_jobs"))
        .value(a("status"), "done")
        .value(a("last_error"), Option::<String>::None)
        .value(a("output"), output)
        .value(a("duration_ms"), duration_ms)
        .value(a("locked_until"), Option::<DateTime<Utc>>::None)
        .value(a("updated_at"), now)
        .and_where(Expr::col(a("id")).eq(j.id.clone()))
        .to_owned();
    c.execute_later(backend.build(&q)).await?;
    let q = Query::update()
        .table(a("sys_jobs"))
        .value(a("status"), "queued")
        .value(a("next_run_at"), now)
        .value(a("updated_at"), now)
        .and_where(Expr::col(a("run_id")).eq(j.run_id.clone()))
        .and_where(Expr::col(a("action_index")).eq(j.action_index + 1))
        .and_where(Expr::col(a("status")).eq("waiting"))
        .to_owned();
    c.execute_later(backend.build(&q)).await?;
    let open = Query::select()
        .expr(Expr::val(1))
        .from(a("sys_jobs"))
        .and_where(Expr::col(a("run_id")).eq(j.run_id.clone()))
        .and_where(Expr::col(a("status")).is_in(["waiting", "queued", "retrying", "running"]))
        .to_owned();
    let q = Query::update()
        .table(a("sys_rule_runs"))
        .value(a("status"), "done")
        .value(a("error"), Option::<String>::None)
        .value(a("finished_at"), now)
        .and_where(Expr::col(a("id")).eq(j.run_id.clone()))
        .and_where(Expr::exists(open).not())
        .to_owned();
    c.execute_later(backend.build(&q)).await?;
    Ok(())
}

/// Records a job's outcome if it is still the run this worker took (same attempt number).
#[allow(clippy::too_many_arguments)]
pub async fn finish<C: crate::Writes>(
    c: &C,
    id: &str,
    attempt: i32,
    status: &str,
    next_run_at: Option<DateTime<Utc>>,
    error: Option<&str>,
    output: Option<&str>,
    duration_ms: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut q = Query::update();
    q.table(a("sys_jobs"))
        .value(a("status"), status)
        .value(a("last_error"), error.map(str::to_string))
        .value(a("output"), output.map(str::to_string))
        .value(a("duration_ms"), duration_ms)
        .value(a("locked_until"), Option::<DateTime<Utc>>::None)
        .value(a("updated_at"), now)
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("status")).eq("running"))
        .and_where(Expr::col(a("attempts")).eq(attempt));
    if let Some(t) = next_run_at {
        q.value(a("next_run_at"), t);
    }
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Queues the next waiting job of a run (after `index`); false when there is none.
pub async fn queue_next<C: crate::Writes>(
    c: &C,
    run_id: &str,
    index: i32,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(a("sys_jobs"))
        .value(a("status"), "queued")
        .value(a("next_run_at"), now)
        .value(a("updated_at"), now)
        .and_where(Expr::col(a("run_id")).eq(run_id))
        .and_where(Expr::col(a("action_index")).eq(index + 1))
        .and_where(Expr::col(a("status")).eq("waiting"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// Skips the waiting jobs of a run (an earlier action died).
pub async fn skip_rest<C: crate::Writes>(c: &C, run_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let q = Query::update()
        .table(a("sys_jobs"))
        .value(a("status"), "skipped")
        .value(a("updated_at"), now)
        .and_where(Expr::col(a("run_id")).eq(run_id))
        .and_where(Expr::col(a("status")).eq("waiting"))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Sets a run's final status.
pub async fn finish_run<C: crate::Writes>(
    c: &C,
    id: &str,
    status: &str,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::update()
        .table(a("sys_rule_runs"))
        .value(a("status"), status)
        .value(a("error"), error.map(str::to_string))
        .value(a("finished_at"), at)
        .and_where(Expr::col(a("id")).eq(id))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// A rule's runs, newest first.
pub async fn runs_of<C: crate::Writes>(c: &C, app_id: &str, rule: &str, limit: u64) -> Result<Vec<RunRow>, StoreError> {
    let q = Query::select()
        .columns(RUN_COLS.map(a))
        .from(a("sys_rule_runs"))
        .and_where(Expr::col(a("app_id")).eq(app_id))
        .and_where(Expr::col(a("rule")).eq(rule))
        .order_by(a("started_at"), Order::Desc)
        .order_by(a("id"), Order::Desc)
        .limit(limit)
        .to_owned();
    c.query_all(&q).await?.iter().map(run).collect()
}

/// The jobs of runs, by run then action order.
pub async fn jobs_of_runs<C: crate::Writes>(c: &C, run_ids: &[String]) -> Result<Vec<JobRow>, StoreError> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns(JOB_COLS.map(a))
        .from(a("sys_jobs"))
        .and_where(Expr::col(a("run_id")).is_in(run_ids.iter().cloned()))
        .order_by(a("run_id"), Order::Asc)
        .order_by(a("action_index"), Order::Asc)
        .to_owned();
    c.query_all(&q).await?.iter().map(job).collect()
}

pub async fn job_by_id<C: crate::Writes>(c: &C, tenant_id: &str, id: &str) -> Result<Option<JobRow>, StoreError> {
    let q = Query::select()
        .columns(JOB_COLS.map(a))
        .from(a("sys_jobs"))
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .to_owned();
    c.query_one(&q).await?.as_ref().map(job).transpose()
}

/// Puts a dead job back in the queue (a manual retry) with fresh attempts.
pub async fn requeue<C: crate::Writes>(c: &C, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(a("sys_jobs"))
        .value(a("status"), "queued")
        .value(a("attempts"), 0)
        .value(a("next_run_at"), now)
        .value(a("updated_at"), now)
        .and_where(Expr::col(a("id")).eq(id))
        .and_where(Expr::col(a("status")).eq("dead"))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Opens a run again after one of its jobs was requeued: the jobs skipped after the dead one
/// wait their turn once more, and the run is `running` without its error.
pub async fn reopen_run<C: crate::Writes>(c: &C, run_id: &str) -> Result<(), StoreError> {
    let q = Query::update()
        .table(a("sys_jobs"))
        .value(a("status"), "waiting")
        .and_where(Expr::col(a("run_id")).eq(run_id))
        .and_where(Expr::col(a("status")).eq("skipped"))
        .to_owned();
    c.execute(&q).await?;
    let q = Query::update()
        .table(a("sys_rule_runs"))
        .value(a("status"), "running")
        .value(a("error"), Option::<String>::None)
        .and_where(Expr::col(a("id")).eq(run_id))
        .to_owned();
    c.execute(&q).await?;
    Ok(())
}

/// Records a cron or timer fire; false when it was recorded already (another node fired it).
pub async fn record_fire<C: crate::Writes>(
    c: &C,
    timer: &str,
    fire_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let q = Query::insert()
        .into_table(a("sys_fires"))
        .columns(["timer", "fire_at", "fired_at"].map(a))
        .values_panic([timer.into(), fire_at.into(), now.into()])
        .on_conflict(OnConflict::columns([a("timer"), a("fire_at")]).do_nothing().to_owned())
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Runs of a tenant started since `since` (the per-tenant rate limit).
pub async fn runs_since<C: crate::Writes>(c: &C, tenant_id: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(a("id")).count(), a("n"))
        .from(a("sys_rule_runs"))
        .and_where(Expr::col(a("tenant_id")).eq(tenant_id))
        .and_where(Expr::col(a("started_at")).gte(since))
        .to_owned();
    Ok(match c.query_one(&q).await? {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    })
}
