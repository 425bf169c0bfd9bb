//! Job workers: claim due jobs, run their action, record the outcome. Actions on the database
//! run inside the transaction that marks their job done; actions that reach the world run
//! between two short transactions, so a slow webhook holds no lock and no database connection.
//! A job whose node died mid-run is taken again when its lease runs out.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;
use serde_json::Value;
use trellis_core::Error;
use trellis_core::automation::{ActionDef, RuleDef};
use trellis_core::status::{JobStatus, RunStatus};
use trellis_store::jobs::{self, JobRow};
use trellis_store::{StoreError, system};

use crate::automation::{ActionCtx, ActionError, actions};
use crate::compiled::scripts::LoadedApp;
use crate::{Engine, TenantCtx};

/// Jobs taken per round (outside actions only as many as there are free slots).
pub const BATCH: u64 = 256;
/// How long a taken job is ours before another worker may take it again.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);

/// The wait before the next attempt: doubling from the base, capped at an hour, with ±50%
/// jitter so failures of many jobs do not retry in step.
pub fn backoff(base_ms: u64, attempt: i32) -> TimeDelta {
    let exp = base_ms.saturating_mul(1u64 << (attempt.clamp(1, 20) - 1) as u32);
    let capped = exp.min(3_600_000) as f64;
    let jitter: f64 = rand::rng().random_range(0.5..1.5);
    TimeDelta::milliseconds((capped * jitter) as i64)
}

/// The base of the retry backoff (`TRELLIS_JOB_BACKOFF_MS`, default 1000 ms).
pub fn backoff_base_ms() -> u64 {
    std::env::var("TRELLIS_JOB_BACKOFF_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000)
}

/// How deep in a rule chain a run's writes are: one more than the event that started it.
fn rule_depth(input: &Value) -> i32 {
    input["event"]["depth"].as_i64().unwrap_or(0) as i32 + 1
}

/// What one round of database jobs has looked up already: apps by id, and the user each
/// (tenant, triggering user) acts as.
#[derive(Default)]
struct Seen {
    apps: std::collections::HashMap<String, Option<Arc<LoadedApp>>>,
    users: std::collections::HashMap<(String, Option<String>, Option<String>), TenantCtx>,
}

/// What a finished attempt leads to.
enum Outcome {
    Done(Value),
    Failed(ActionError),
}

impl Engine {
    /// One round: takes as many due jobs as this node has free slots and runs each on its own
    /// task, so one slow webhook holds one slot and nothing else. Answers how many were taken.
    pub async fn run_due_jobs(&self) -> Result<usize, Error> {
        let free = self.wake.slots.available_permits();
        let now = trellis_core::value::now_micros();
        if jobs::due_jobs(&self.db.read, now, 1).await?.is_empty() {
            return Ok(0);
        }
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let due = jobs::due_jobs(&tx, now, BATCH).await?;
        let (mut external, internal): (Vec<JobRow>, Vec<JobRow>) = due
            .into_iter()
            .partition(|j| actions::find(&j.action).is_some_and(|a| a.reach() == actions::Reach::World));
        // Outside actions need a free slot; the others wait for a later round.
        external.truncate(free);
        let mut taken = Vec::new();
        for j in external {
            // Selected in this transaction (locked on PostgreSQL, the one writer on SQLite).
            jobs::take_locked(&tx, &j, now, now + LEASE).await?;
            taken.push(j);
        }
        // Jobs on the database run right here, each in a savepoint of this one transaction: on
        // SQLite's single writer one commit for the round instead of one per job.
        let ran = internal.len();
        let mut seen = Seen::default();
        for j in internal {
            self.run_internal_in(&tx, j, now, &mut seen).await?;
        }
        tx.commit().await.map_err(StoreError::from)?;
        if ran > 0 {
            self.wake_dispatcher();
            self.wake_workers();
        }
        let n = taken.len() + ran;
        for job in taken {
            let Ok(permit) = self.wake.slots.clone().try_acquire_owned() else {
                // Slots are only taken here, one round at a time; a job left over runs when
                // its lease ends.
                break;
            };
            let engine = self.clone();
            tokio::spawn(async move {
                let id = job.id.clone();
                if let Err(e) = engine.execute(job).await {
                    tracing::error!(job = %id, error = %e.detail, "job could not be recorded");
                }
                drop(permit);
                engine.wake_workers();
            });
        }
        Ok(n)
    }

    /// Runs a job whose action stays in the database inside `tx`: its writes and its
    /// completion in one savepoint, or, when it fails, only the record of the failure.
    async fn run_internal_in(
        &self,
        tx: &trellis_store::WriteTx,
        job: JobRow,
        now: DateTime<Utc>,
        seen: &mut Seen,
    ) -> Result<(), Error> {
        let started = Instant::now();
        // Selected in this transaction (locked on PostgreSQL, the one writer on SQLite): ours.
        jobs::take_locked(tx, &job, now, now + LEASE).await?;
        let apps = &mut seen.apps;
        let attempt = job.attempts + 1;
        let input: Value = serde_json::from_str(&job.input).unwrap_or(Value::Null);
        let app = match apps.get(&job.app_id) {
            Some(a) => a.clone(),
            None => {
                let a = self.app_by_id(&self.db.read, &job.app_id).await?;
                apps.insert(job.app_id.clone(), a.clone());
                a
            }
        };
        let found = match app {
            None => Err("the app no longer exists"),
            Some(app) => match app
                .def
                .rule(&job.rule)
                .and_then(|r| r.actions.get(job.action_index as usize).map(|a| (r.clone(), a.clone())))
            {
                None => Err("the rule or its action no longer exists"),
                Some((_, a)) if a.kind() != job.action => Err("the rule's actions changed since this run started"),
                Some((r, a)) => Ok((app, r, a)),
            },
        };
        let (app, rule, action) = match found {
            Ok(x) => x,
            Err(why) => {
                return self
                    .record_in(tx, &job, attempt, Outcome::Failed(ActionError::fatal(why)), started)
                    .await;
            }
        };
        let actor = input["event"]["actor"].as_str();
        let via = input["event"]["via"].as_str();
        let key = (
            job.tenant_id.clone(),
            actor.map(str::to_string),
            via.map(str::to_string),
        );
        let user = match seen.users.get(&key) {
            Some(u) => u.clone(),
            None => {
                let u = self.acting_user(tx, &job.tenant_id, actor, via).await?;
                seen.users.insert(key, u.clone());
                u
            }
        };
        let ctx = user.as_rule(&job.rule, rule_depth(&input));
        let sp = tx.begin().await.map_err(StoreError::from)?;
        match self
            .internal(&sp, &ctx, &app, &rule, &action, &job, attempt, &input)
            .await
        {
            Ok(v) => {
                let ms = started.elapsed().as_millis() as i64;
                jobs::done_locked(&sp, &job, &v.to_string(), ms, trellis_core::value::now_micros()).await?;
                sp.commit().await.map_err(StoreError::from)?;
                Ok(())
            }
            Err(e) => {
                sp.rollback().await.map_err(StoreError::from)?;
                self.record_in(tx, &job, attempt, Outcome::Failed(e), started).await
            }
        }
    }

    /// The user a rule acts as: the one whose change triggered it, else a tenant administrator.
    async fn rule_ctx<C: trellis_store::Reads>(
        &self,
        conn: &C,
        job: &JobRow,
        input: &Value,
    ) -> Result<TenantCtx, Error> {
        let actor = input["event"]["actor"].as_str();
        Ok(self
            .acting_user(conn, &job.tenant_id, actor, input["event"]["via"].as_str())
            .await?
            .as_rule(&job.rule, rule_depth(input)))
    }

    /// The triggering user if still enabled, else the tenant's first administrator. A change
    /// made through an API token with a role (`via` = `token:<id>`) runs its rules with only
    /// that role, as the token acted: a rule never acts with more than its trigger had.
    async fn acting_user<C: trellis_store::Reads>(
        &self,
        conn: &C,
        tenant_id: &str,
        actor: Option<&str>,
        via: Option<&str>,
    ) -> Result<TenantCtx, Error> {
        if let Some(actor) = actor
            && let Some(u) = system::user_by_id(conn, tenant_id, actor).await?
            && u.disabled_at.is_none()
        {
            let role = match via.and_then(|v| v.strip_prefix("token:")) {
                Some(token) => system::api_tokens_of(conn, tenant_id, &u.id)
                    .await?
                    .into_iter()
                    .find(|t| t.id == token)
                    .and_then(|t| t.role),
                None => None,
            };
            return Ok(TenantCtx::new(tenant_id.to_string(), u.id, u.is_admin, None).with_token_role(role));
        }
        let admin = system::users_of(conn, tenant_id)
            .await?
            .into_iter()
            .filter(|u| u.is_admin && u.disabled_at.is_none())
            .min_by(|a, b| a.created_at.cmp(&b.created_at))
            .ok_or_else(|| Error::internal("the tenant has no administrator to run rules as"))?;
        Ok(TenantCtx::new(tenant_id.to_string(), admin.id, true, None))
    }

    /// Runs one taken job and records the outcome.
    async fn execute(&self, job: JobRow) -> Result<(), Error> {
        let started = Instant::now();
        let attempt = job.attempts + 1;
        let input: Value = serde_json::from_str(&job.input).unwrap_or(Value::Null);
        let Some(app) = self.app_by_id(&self.db.read, &job.app_id).await? else {
            return self
                .record(
                    &job,
                    attempt,
                    Outcome::Failed(ActionError::fatal("the app no longer exists")),
                    started,
                )
                .await;
        };
        let Some((rule, action)) = app
            .def
            .rule(&job.rule)
            .and_then(|r| r.actions.get(job.action_index as usize).map(|a| (r, a)))
        else {
            return self
                .record(
                    &job,
                    attempt,
                    Outcome::Failed(ActionError::fatal("the rule or its action no longer exists")),
                    started,
                )
                .await;
        };
        if action.kind() != job.action {
            return self
                .record(
                    &job,
                    attempt,
                    Outcome::Failed(ActionError::fatal("the rule's actions changed since this run started")),
                    started,
                )
                .await;
        }
        let Some(kind) = actions::find(action.kind()) else {
            return self
                .record(
                    &job,
                    attempt,
                    Outcome::Failed(ActionError::fatal(format!("'{}' is not an action", action.kind()))),
                    started,
                )
                .await;
        };
        if kind.reach() == actions::Reach::World {
            let outcome = match self.external(&app, rule, action, &job, attempt, &input).await {
                Ok(v) => Outcome::Done(v),
                Err(e) => Outcome::Failed(e),
            };
            return self.record(&job, attempt, outcome, started).await;
        }
        // Database actions commit with their job's completion, or not at all.
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        let ctx = self.rule_ctx(&tx, &job, &input).await?;
        match self
            .internal(&tx, &ctx, &app, rule, action, &job, attempt, &input)
            .await
        {
            Ok(v) => {
                if self.complete(&tx, &job, attempt, &v, started).await? {
                    tx.commit().await.map_err(StoreError::from)?;
                    self.wake_dispatcher();
                    self.wake_workers();
                } else {
                    tx.rollback().await.map_err(StoreError::from)?;
                }
                Ok(())
            }
            Err(e) => {
                tx.rollback().await.map_err(StoreError::from)?;
                self.record(&job, attempt, Outcome::Failed(e), started).await
            }
        }
    }

    /// What an action of this job runs with.
    fn action_ctx<'a>(
        &'a self,
        app: &'a LoadedApp,
        rule: &'a RuleDef,
        job: &'a JobRow,
        attempt: i32,
        input: &'a Value,
        progress: Option<&'a Value>,
    ) -> ActionCtx<'a> {
        ActionCtx {
            engine: self,
            tenant_id: &job.tenant_id,
            app,
            rule,
            job_id: &job.id,
            idempotency_key: &job.idempotency_key,
            attempt,
            input,
            progress,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn internal(
        &self,
        tx: &trellis_store::WriteTx,
        ctx: &TenantCtx,
        app: &Arc<LoadedApp>,
        rule: &RuleDef,
        action: &ActionDef,
        job: &JobRow,
        attempt: i32,
        input: &Value,
    ) -> Result<Value, ActionError> {
        let actx = self.action_ctx(app, rule, job, attempt, input, None);
        let run = actions::InTx {
            tx,
            user: ctx,
            action: &actx,
            index: job.action_index as usize,
        };
        match actions::find(action.kind()) {
            Some(kind) => kind.run_in(action, &run).await,
            None => Err(ActionError::fatal(format!("'{}' is not an action", action.kind()))),
        }
    }

    /// An action that reaches the world, outside any transaction.
    async fn external(
        &self,
        app: &LoadedApp,
        rule: &RuleDef,
        action: &ActionDef,
        job: &JobRow,
        attempt: i32,
        input: &Value,
    ) -> Result<Value, ActionError> {
        // The output a failed attempt left is its progress (see `record_in`).
        let progress: Option<Value> = job.output.as_deref().and_then(|o| serde_json::from_str(o).ok());
        let ctx = self.action_ctx(app, rule, job, attempt, input, progress.as_ref());
        match actions::find(action.kind()) {
            Some(kind) => kind.run_out(action, &ctx).await,
            None => Err(ActionError::fatal(format!("'{}' is not an action", action.kind()))),
        }
    }

    /// Marks the job done, queues the run's next action or closes the run. False when the job
    /// is no longer ours (its lease ran out and another worker took it).
    async fn complete<C: trellis_store::Writes>(
        &self,
        tx: &C,
        job: &JobRow,
        attempt: i32,
        output: &Value,
        started: Instant,
    ) -> Result<bool, Error> {
        let now = trellis_core::value::now_micros();
        let ms = started.elapsed().as_millis() as i64;
        let out = output.to_string();
        if !jobs::finish(tx, &job.id, attempt, JobStatus::Done, None, None, Some(&out), ms, now).await? {
            return Ok(false);
        }
        if !jobs::queue_next(tx, &job.run_id, job.action_index, now).await? {
            jobs::finish_run(tx, &job.run_id, RunStatus::Done, None, now).await?;
        }
        Ok(true)
    }

    /// Records an attempt's outcome in its own transaction.
    async fn record(&self, job: &JobRow, attempt: i32, outcome: Outcome, started: Instant) -> Result<(), Error> {
        let tx = self.db.begin_write().await.map_err(StoreError::from)?;
        self.record_in(&tx, job, attempt, outcome, started).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.wake_workers();
        Ok(())
    }

    /// Records an attempt's outcome: done, retrying after a backoff, or dead (skipping the
    /// run's later actions and failing the run).
    async fn record_in<C: trellis_store::Writes>(
        &self,
        tx: &C,
        job: &JobRow,
        attempt: i32,
        outcome: Outcome,
        started: Instant,
    ) -> Result<(), Error> {
        match outcome {
            Outcome::Done(v) => {
                self.complete(tx, job, attempt, &v, started).await?;
            }
            Outcome::Failed(e) => {
                let now = trellis_core::value::now_micros();
                let ms = started.elapsed().as_millis() as i64;
                // What this and earlier attempts completed: a failure that reports none (one
                // before anything was sent) keeps what the last one reported.
                let progress = e.progress.as_ref().map(Value::to_string).or_else(|| job.output.clone());
                if e.retry && attempt < job.max_attempts {
                    let next: DateTime<Utc> = now + backoff(backoff_base_ms(), attempt);
                    jobs::finish(
                        tx,
                        &job.id,
                        attempt,
                        JobStatus::Retrying,
                        Some(next),
                        Some(&e.message),
                        progress.as_deref(),
                        ms,
                        now,
                    )
                    .await?;
                } else if jobs::finish(
                    tx,
                    &job.id,
                    attempt,
                    JobStatus::Dead,
                    None,
                    Some(&e.message),
                    progress.as_deref(),
                    ms,
                    now,
                )
                .await?
                {
                    tracing::warn!(job = %job.id, rule = %job.rule, error = %e.message, "job dead-lettered");
                    jobs::skip_rest(tx, &job.run_id, now).await?;
                    jobs::finish_run(tx, &job.run_id, RunStatus::Failed, Some(&e.message), now).await?;
                }
            }
        }
        Ok(())
    }
}
