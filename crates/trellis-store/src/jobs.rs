//! Automation bookkeeping: rule runs, their action jobs, and the outbox claim.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType, OnConflict, Order, Query};
use sea_orm::{DbBackend, DeriveIden, FromQueryResult, QueryResult};
use trellis_core::status::{JobStatus, RunStatus};

use crate::error::StoreError;
use crate::events::EventRow;
use crate::events::SysEvents;
use crate::rows;

/// `sys_fires` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysFires {
    Table,
    FireAt,
    FiredAt,
    Timer,
}

/// `sys_jobs` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysJobs {
    Table,
    Action,
    ActionIndex,
    AppId,
    Attempts,
    CreatedAt,
    DurationMs,
    Id,
    IdempotencyKey,
    Input,
    LastError,
    LockedUntil,
    MaxAttempts,
    NextRunAt,
    Output,
    Rule,
    RunId,
    Status,
    TenantId,
    UpdatedAt,
}

/// `sys_rule_runs` and its columns.
#[derive(DeriveIden, Clone, Copy)]
enum SysRuleRuns {
    Table,
    AppId,
    Depth,
    Error,
    EventId,
    FinishedAt,
    Id,
    Matched,
    RecordId,
    Rule,
    RuleVersion,
    StartedAt,
    Status,
    TenantId,
    Trigger,
}

/// One evaluation of a rule against a trigger.
#[derive(Debug, Clone, FromQueryResult)]
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
    /// A `trellis_core::status::RunStatus` word.
    pub status: String,
    pub error: Option<String>,
    pub depth: i32,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// One action of a run, as a durable job.
#[derive(Debug, Clone, FromQueryResult)]
pub struct JobRow {
    pub id: String,
    pub tenant_id: String,
    pub app_id: String,
    pub run_id: String,
    pub rule: String,
    pub action_index: i32,
    pub action: String,
    pub idempotency_key: String,
    /// A `trellis_core::status::JobStatus` word.
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

const RUN_COLS: [SysRuleRuns; 14] = [
    SysRuleRuns::Id,
    SysRuleRuns::TenantId,
    SysRuleRuns::AppId,
    SysRuleRuns::Rule,
    SysRuleRuns::RuleVersion,
    SysRuleRuns::EventId,
    SysRuleRuns::RecordId,
    SysRuleRuns::Trigger,
    SysRuleRuns::Matched,
    SysRuleRuns::Status,
    SysRuleRuns::Error,
    SysRuleRuns::Depth,
    SysRuleRuns::StartedAt,
    SysRuleRuns::FinishedAt,
];

const JOB_COLS: [SysJobs; 19] = [
    SysJobs::Id,
    SysJobs::TenantId,
    SysJobs::AppId,
    SysJobs::RunId,
    SysJobs::Rule,
    SysJobs::ActionIndex,
    SysJobs::Action,
    SysJobs::IdempotencyKey,
    SysJobs::Status,
    SysJobs::Attempts,
    SysJobs::MaxAttempts,
    SysJobs::NextRunAt,
    SysJobs::LockedUntil,
    SysJobs::LastError,
    SysJobs::Input,
    SysJobs::Output,
    SysJobs::DurationMs,
    SysJobs::CreatedAt,
    SysJobs::UpdatedAt,
];

fn job(r: &QueryResult) -> Result<JobRow, StoreError> {
    Ok(JobRow::from_query_result(r, "")?)
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
    q.columns(crate::events::COLS)
        .from(SysEvents::Table)
        .and_where(Expr::col(SysEvents::DispatchedAt).is_null())
        .order_by(SysEvents::At, Order::Asc)
        .limit(limit);
    if !skip.is_empty() {
        q.and_where(Expr::col(SysEvents::TenantId).is_not_in(skip.iter().cloned()));
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
        .table(SysEvents::Table)
        .value(SysEvents::DispatchedAt, at)
        .and_where(Expr::col(SysEvents::Id).is_in(ids.iter().cloned()))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

pub async fn insert_run<C: crate::Writes>(c: &C, r: &RunRow) -> Result<(), StoreError> {
    let q = Query::insert()
        .into_table(SysRuleRuns::Table)
        .columns(RUN_COLS)
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
    q.into_table(SysJobs::Table).columns(JOB_COLS);
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
    q.on_conflict(OnConflict::column(SysJobs::IdempotencyKey).do_nothing().to_owned());
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Jobs ready to run: queued or retrying and due, or running with an expired lease (their
/// node died). Locked on PostgreSQL.
pub async fn due_jobs<C: crate::Reads>(c: &C, now: DateTime<Utc>, limit: u64) -> Result<Vec<JobRow>, StoreError> {
    let mut q = Query::select();
    q.columns(JOB_COLS)
        .from(SysJobs::Table)
        .and_where(Expr::col(SysJobs::Status).is_in([JobStatus::Queued.as_str(), JobStatus::Retrying.as_str()]))
        .and_where(Expr::col(SysJobs::NextRunAt).lte(now))
        .order_by(SysJobs::NextRunAt, Order::Asc)
        .limit(limit);
    lock_if_pg(&mut q, c.get_database_backend());
    let mut out: Vec<JobRow> = c.query_all(&q).await?.iter().map(job).collect::<Result<_, _>>()?;
    let mut q = Query::select();
    q.columns(JOB_COLS)
        .from(SysJobs::Table)
        .and_where(Expr::col(SysJobs::Status).eq(JobStatus::Running.as_str()))
        .and_where(Expr::col(SysJobs::LockedUntil).lt(now))
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
        .table(SysJobs::Table)
        .value(SysJobs::Status, JobStatus::Running.as_str())
        .value(SysJobs::Attempts, j.attempts + 1)
        .value(SysJobs::LockedUntil, lease_until)
        .value(SysJobs::UpdatedAt, now)
        .and_where(Expr::col(SysJobs::Id).eq(j.id.clone()))
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
        .table(SysJobs::Table)
        .value(SysJobs::Status, JobStatus::Done.as_str())
        .value(SysJobs::LastError, Option::<String>::None)
        .value(SysJobs::Output, output)
        .value(SysJobs::DurationMs, duration_ms)
        .value(SysJobs::LockedUntil, Option::<DateTime<Utc>>::None)
        .value(SysJobs::UpdatedAt, now)
        .and_where(Expr::col(SysJobs::Id).eq(j.id.clone()))
        .to_owned();
    c.execute_later(backend.build(&q)).await?;
    let q = Query::update()
        .table(SysJobs::Table)
        .value(SysJobs::Status, JobStatus::Queued.as_str())
        .value(SysJobs::NextRunAt, now)
        .value(SysJobs::UpdatedAt, now)
        .and_where(Expr::col(SysJobs::RunId).eq(j.run_id.clone()))
        .and_where(Expr::col(SysJobs::ActionIndex).eq(j.action_index + 1))
        .and_where(Expr::col(SysJobs::Status).eq(JobStatus::Waiting.as_str()))
        .to_owned();
    c.execute_later(backend.build(&q)).await?;
    let open = Query::select()
        .expr(Expr::val(1))
        .from(SysJobs::Table)
        .and_where(Expr::col(SysJobs::RunId).eq(j.run_id.clone()))
        .and_where(Expr::col(SysJobs::Status).is_in([
            JobStatus::Waiting.as_str(),
            JobStatus::Queued.as_str(),
            JobStatus::Retrying.as_str(),
            JobStatus::Running.as_str(),
        ]))
        .to_owned();
    let q = Query::update()
        .table(SysRuleRuns::Table)
        .value(SysRuleRuns::Status, RunStatus::Done.as_str())
        .value(SysRuleRuns::Error, Option::<String>::None)
        .value(SysRuleRuns::FinishedAt, now)
        .and_where(Expr::col(SysRuleRuns::Id).eq(j.run_id.clone()))
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
    status: JobStatus,
    next_run_at: Option<DateTime<Utc>>,
    error: Option<&str>,
    output: Option<&str>,
    duration_ms: i64,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let mut q = Query::update();
    q.table(SysJobs::Table)
        .value(SysJobs::Status, status.as_str())
        .value(SysJobs::LastError, error.map(str::to_string))
        .value(SysJobs::Output, output.map(str::to_string))
        .value(SysJobs::DurationMs, duration_ms)
        .value(SysJobs::LockedUntil, Option::<DateTime<Utc>>::None)
        .value(SysJobs::UpdatedAt, now)
        .and_where(Expr::col(SysJobs::Id).eq(id))
        .and_where(Expr::col(SysJobs::Status).eq(JobStatus::Running.as_str()))
        .and_where(Expr::col(SysJobs::Attempts).eq(attempt));
    if let Some(t) = next_run_at {
        q.value(SysJobs::NextRunAt, t);
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
        .table(SysJobs::Table)
        .value(SysJobs::Status, JobStatus::Queued.as_str())
        .value(SysJobs::NextRunAt, now)
        .value(SysJobs::UpdatedAt, now)
        .and_where(Expr::col(SysJobs::RunId).eq(run_id))
        .and_where(Expr::col(SysJobs::ActionIndex).eq(index + 1))
        .and_where(Expr::col(SysJobs::Status).eq(JobStatus::Waiting.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() > 0)
}

/// Skips the waiting jobs of a run (an earlier action died).
pub async fn skip_rest<C: crate::Writes>(c: &C, run_id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    let q = Query::update()
        .table(SysJobs::Table)
        .value(SysJobs::Status, JobStatus::Skipped.as_str())
        .value(SysJobs::UpdatedAt, now)
        .and_where(Expr::col(SysJobs::RunId).eq(run_id))
        .and_where(Expr::col(SysJobs::Status).eq(JobStatus::Waiting.as_str()))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// Sets a run's final status.
pub async fn finish_run<C: crate::Writes>(
    c: &C,
    id: &str,
    status: RunStatus,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let q = Query::update()
        .table(SysRuleRuns::Table)
        .value(SysRuleRuns::Status, status.as_str())
        .value(SysRuleRuns::Error, error.map(str::to_string))
        .value(SysRuleRuns::FinishedAt, at)
        .and_where(Expr::col(SysRuleRuns::Id).eq(id))
        .to_owned();
    c.execute_later(c.get_database_backend().build(&q)).await?;
    Ok(())
}

/// A rule's runs, newest first.
pub async fn runs_of<C: crate::Reads>(c: &C, app_id: &str, rule: &str, limit: u64) -> Result<Vec<RunRow>, StoreError> {
    let q = Query::select()
        .columns(RUN_COLS)
        .from(SysRuleRuns::Table)
        .and_where(Expr::col(SysRuleRuns::AppId).eq(app_id))
        .and_where(Expr::col(SysRuleRuns::Rule).eq(rule))
        .order_by(SysRuleRuns::StartedAt, Order::Desc)
        .order_by(SysRuleRuns::Id, Order::Desc)
        .limit(limit)
        .to_owned();
    rows::all(c, &q).await
}

/// The runs of the rules that matched events of a record, oldest first, after the run `after`
/// (an id: ids grow with time).
pub async fn runs_of_record<C: crate::Reads>(
    c: &C,
    tenant_id: &str,
    record_id: &str,
    after: Option<&str>,
    limit: u64,
) -> Result<Vec<RunRow>, StoreError> {
    let mut q = Query::select();
    q.columns(RUN_COLS)
        .from(SysRuleRuns::Table)
        .and_where(Expr::col(SysRuleRuns::RecordId).eq(record_id))
        .and_where(Expr::col(SysRuleRuns::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysRuleRuns::Matched).eq(true))
        .order_by(SysRuleRuns::Id, Order::Asc)
        .limit(limit);
    if let Some(after) = after {
        q.and_where(Expr::col(SysRuleRuns::Id).gt(after));
    }
    rows::all(c, &q).await
}

/// The jobs of runs, by run then action order.
pub async fn jobs_of_runs<C: crate::Reads>(c: &C, run_ids: &[String]) -> Result<Vec<JobRow>, StoreError> {
    if run_ids.is_empty() {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns(JOB_COLS)
        .from(SysJobs::Table)
        .and_where(Expr::col(SysJobs::RunId).is_in(run_ids.iter().cloned()))
        .order_by(SysJobs::RunId, Order::Asc)
        .order_by(SysJobs::ActionIndex, Order::Asc)
        .to_owned();
    rows::all(c, &q).await
}

pub async fn job_by_id<C: crate::Reads>(c: &C, tenant_id: &str, id: &str) -> Result<Option<JobRow>, StoreError> {
    let q = Query::select()
        .columns(JOB_COLS)
        .from(SysJobs::Table)
        .and_where(Expr::col(SysJobs::Id).eq(id))
        .and_where(Expr::col(SysJobs::TenantId).eq(tenant_id))
        .to_owned();
    rows::one(c, &q).await
}

/// Puts a dead job back in the queue (a manual retry) with fresh attempts.
pub async fn requeue<C: crate::Writes>(c: &C, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let q = Query::update()
        .table(SysJobs::Table)
        .value(SysJobs::Status, JobStatus::Queued.as_str())
        .value(SysJobs::Attempts, 0)
        .value(SysJobs::NextRunAt, now)
        .value(SysJobs::UpdatedAt, now)
        .and_where(Expr::col(SysJobs::Id).eq(id))
        .and_where(Expr::col(SysJobs::Status).eq(JobStatus::Dead.as_str()))
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Opens a run again after one of its jobs was requeued: the jobs skipped after the dead one
/// wait their turn once more, and the run is `running` without its error.
pub async fn reopen_run<C: crate::Writes>(c: &C, run_id: &str) -> Result<(), StoreError> {
    let q = Query::update()
        .table(SysJobs::Table)
        .value(SysJobs::Status, JobStatus::Waiting.as_str())
        .and_where(Expr::col(SysJobs::RunId).eq(run_id))
        .and_where(Expr::col(SysJobs::Status).eq(JobStatus::Skipped.as_str()))
        .to_owned();
    c.execute(&q).await?;
    let q = Query::update()
        .table(SysRuleRuns::Table)
        .value(SysRuleRuns::Status, RunStatus::Running.as_str())
        .value(SysRuleRuns::Error, Option::<String>::None)
        .and_where(Expr::col(SysRuleRuns::Id).eq(run_id))
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
        .into_table(SysFires::Table)
        .columns([SysFires::Timer, SysFires::FireAt, SysFires::FiredAt])
        .values_panic([timer.into(), fire_at.into(), now.into()])
        .on_conflict(
            OnConflict::columns([SysFires::Timer, SysFires::FireAt])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    Ok(c.execute(&q).await?.rows_affected() == 1)
}

/// Runs of a tenant started since `since` (the per-tenant rate limit).
pub async fn runs_since<C: crate::Reads>(c: &C, tenant_id: &str, since: DateTime<Utc>) -> Result<i64, StoreError> {
    let q = Query::select()
        .expr_as(Expr::col(SysRuleRuns::Id).count(), rows::Count::alias())
        .from(SysRuleRuns::Table)
        .and_where(Expr::col(SysRuleRuns::TenantId).eq(tenant_id))
        .and_where(Expr::col(SysRuleRuns::StartedAt).gte(since))
        .to_owned();
    rows::Count::of(c, &q).await
}
